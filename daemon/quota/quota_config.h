/* Maps struct config (config/config.h) onto the quota module's own option
 * structs, so app.c wires quota in a few lines and quota/ itself does not
 * depend on the config layout. Called by app.c at start and on SIGHUP. */
#ifndef ABC_QUOTA_QUOTA_CONFIG_H
#define ABC_QUOTA_QUOTA_CONFIG_H

#include "config/config.h"
#include "model/acct.h"
#include "quota/quota.h"

/* Fills o from c. Strings are borrowed from c (valid while c is);
 * quota_init/quota_reload copy what they keep. now_ms is NULL
 * (clock_now_ms, ABC_TEST_NOW aware); read_only false. With
 * accounting.state_configmap set, state_file is still filled: the app
 * replaces the backend with quota_set_store. */
void quota_opts_from_config(const struct config *c, struct quota_opts *o);

/* Fills o from one accounting source; strings borrowed from s. */
void acct_source_opts_from_config(const struct config_source *s, struct acct_source_opts *o);

#endif
