/* struct config → struct quota_opts / struct acct_source_opts (see
 * quota_config.h). */
#include "quota/quota_config.h"

#include <string.h>

void quota_opts_from_config(const struct config *c, struct quota_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->backup_limit = c->limits.on_demand_backups_per_day;
    o->restore_limit = c->limits.restores_per_day;
    o->warn_ratio = c->limits.warn_ratio;
    o->day_offset = config_day_offset(c);
    o->day_boundary = c->limits.day_boundary;
    o->has_schedule = c->vault.has_schedule;
    o->schedule = c->vault.schedule;
    o->tolerance_minutes = config_schedule_tolerance(c); /* -1: the edition's */
    o->state_file = c->accounting.state_file;
    o->token_file = c->api.token_file;
}

void acct_source_opts_from_config(const struct config_source *s, struct acct_source_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->name = s->name;
    o->operation = s->operation == CONFIG_OP_RESTORE ? ACCT_OP_RESTORE : ACCT_OP_BACKUP;
    o->group = s->group;
    o->version = s->version;
    o->resource = s->resource;
    o->namespace_ = s->namespace_;
    o->on_demand = s->on_demand;
    o->instance = s->instance;
}
