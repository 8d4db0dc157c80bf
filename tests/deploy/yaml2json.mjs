// Reads a rendered multi-document YAML file and prints JSON:
//   --rules FILE  the spec of its one PrometheusRule (a Prometheus rule file)
//   --rbac FILE   its ServiceAccounts, (Cluster)Roles and (Cluster)RoleBindings
import { readFileSync } from "node:fs";
import YAML from "yaml";

const [mode, file] = process.argv.slice(2);
const docs = YAML.parseAllDocuments(readFileSync(file, "utf8")).map((d) => d.toJS()).filter(Boolean);
if (mode === "--rules") {
  const r = docs.filter((d) => d.kind === "PrometheusRule");
  if (r.length !== 1) { console.error(`${file}: ${r.length} PrometheusRules, want 1`); process.exit(1); }
  console.log(JSON.stringify(r[0].spec, null, 1));
} else if (mode === "--rbac") {
  const kinds = ["ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"];
  console.log(JSON.stringify(docs.filter((d) => kinds.includes(d.kind)), null, 1));
} else {
  console.error("usage: yaml2json.mjs --rules|--rbac FILE");
  process.exit(2);
}
