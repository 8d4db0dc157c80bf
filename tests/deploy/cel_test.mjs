// Evaluates the RENDERED ValidatingAdmissionPolicy (docs/admission.md) with a plain CEL
// evaluator (@bufbuild/cel, standard library + strings extension only) against a
// claim on every StorageClass of the fixtures, storageClassName "", no class and
// an unknown class, and checks its binding. A claim must be warned exactly when
// AKS backup would skip its volume, with the message naming the class.
// Usage: node cel_test.mjs --storage storage.json --configmap cm.json RENDERED.yaml...
import { readFileSync } from "node:fs";
import { run, isCelError } from "@bufbuild/cel";
import { strings } from "@bufbuild/cel/ext";
import YAML from "yaml";

const args = process.argv.slice(2);
let storagePath = null, cmPath = null, audit = false;
const rendered = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--storage") storagePath = args[++i];
  else if (args[i] === "--configmap") cmPath = args[++i];
  else rendered.push(args[i]);
}
if (!storagePath || !cmPath || rendered.length === 0) {
  console.error("usage: cel_test.mjs --storage FILE --configmap FILE RENDERED.yaml[:audit]...");
  process.exit(2);
}

let passed = 0, failed = 0;
function check(ok, what) {
  if (ok) passed++;
  else { failed++; console.log(`FAIL: ${what}`); }
}

// JSON -> CEL input: objects are maps, integers are CEL ints (as the API server's
// typed objects give them).
function cel(v) {
  if (v === null || v === undefined) return null;
  if (Array.isArray(v)) return v.map(cel);
  if (typeof v === "object") {
    const m = new Map();
    for (const [k, x] of Object.entries(v)) m.set(k, cel(x));
    return m;
  }
  if (typeof v === "number" && Number.isInteger(v)) return BigInt(v);
  return v;
}

function evalExpr(expr, bindings, what) {
  const r = run(expr, bindings, { funcs: strings });
  if (isCelError(r)) throw new Error(`${what}: CEL error: ${r.message ?? String(r)}`);
  return r;
}

// The admission engine's evaluation: variables in order (each may use the
// earlier ones), then every validation; a failed validation's messageExpression
// is the warning. Returns the list of warnings.
function admit(policy, claim, params) {
  const spec = policy.spec;
  const vars = new Map();
  const bindings = () => ({
    object: cel(claim), oldObject: null, params: cel(params),
    request: cel({ operation: "CREATE", kind: { group: "", version: "v1", kind: "PersistentVolumeClaim" },
                   namespace: claim.metadata.namespace, name: claim.metadata.name }),
    variables: vars,
  });
  for (const v of spec.variables ?? []) vars.set(v.name, evalExpr(v.expression, bindings(), `variable ${v.name}`));
  const warnings = [];
  for (const val of spec.validations ?? []) {
    const ok = evalExpr(val.expression, bindings(), "validation");
    if (typeof ok !== "boolean") throw new Error(`validation ${val.expression} gave ${typeof ok}, not bool`);
    if (ok) continue;
    let msg = val.message ?? "";
    if (val.messageExpression) {
      const m = evalExpr(val.messageExpression, bindings(), "messageExpression");
      if (typeof m !== "string") throw new Error(`messageExpression gave ${typeof m}, not string`);
      if (m.trim() !== "") msg = m;
    }
    warnings.push(msg);
  }
  return warnings;
}

function claim(name, className, namespace = "shop") {
  const spec = { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "8Gi" } } };
  if (className !== undefined) spec.storageClassName = className;
  return { apiVersion: "v1", kind: "PersistentVolumeClaim", metadata: { name, namespace }, spec };
}

// The support matrix for a volume provisioned from a class, per edition (the
// ConfigMap's `edition`; none = 2023-08, the layout before editions):
// 2023-08: supported only for disk.csi.azure.com; Azure Files skipped;
// no-provisioner classes only bind static volumes.
// 2026-01: SMB Azure Files supported unless NFS or behind a private endpoint;
// no-provisioner volumes carry the class name (supported); Azure Container
// Storage has its own reason.
const ieq = (a, b) => typeof a === "string" && a.toLowerCase() === b.toLowerCase();
function reasonOf(sc, edition) {
  const p = sc.provisioner, par = sc.parameters ?? {};
  const e2026 = edition === "2026-01";
  switch (p) {
    case "disk.csi.azure.com": return "supported";
    case "file.csi.azure.com":
      if (!e2026) return "azure-files";
      if (ieq(par.protocol, "nfs")) return "azure-files-nfs";
      if (ieq(par.networkEndpointType, "privateEndpoint")) return "azure-files-private-endpoint";
      return "supported";
    case "blob.csi.azure.com": return "azure-blob";
    case "kubernetes.io/azure-disk": case "kubernetes.io/azure-file": return "in-tree";
    case "kubernetes.io/no-provisioner": return e2026 ? "supported" : "static";
    default:
      if (e2026 && (p === "containerstorage.csi.azure.com" || p.endsWith(".containerstorage.azure.com")))
        return "container-storage";
      return "unsupported-driver";
  }
}

const storage = JSON.parse(readFileSync(storagePath, "utf8"));
const classes = storage.items.filter((o) => o.kind === "StorageClass");
const cm = JSON.parse(readFileSync(cmPath, "utf8"));
const data = cm.data ?? {};
const edition = data.edition ?? "2023-08";
const EXCLUDED = edition === "2026-01" ? ["kube-system", "kube-node-lease", "kube-public"] : [];
const isDefault = (sc) => (sc.metadata.annotations ?? {})["storageclass.kubernetes.io/is-default-class"] === "true";
check(classes.length > 0, "fixtures hold StorageClasses");

// The ConfigMap follows the layout (docs/admission.md) for these classes.
for (const sc of classes) {
  const reason = reasonOf(sc, edition);
  const n = sc.metadata.name;
  if (reason === "supported") {
    check(!(`class.${n}` in data) && !(`message.${n}` in data), `configmap: supported class ${n} is not listed`);
  } else {
    check(data[`class.${n}`] === reason, `configmap: class.${n} is ${reason} (got ${data[`class.${n}`]})`);
    check(typeof data[`message.${n}`] === "string" && data[`message.${n}`].includes(n),
          `configmap: message.${n} names the class`);
  }
}
const def = classes.find(isDefault);
const defSkipped = def && reasonOf(def, edition) !== "supported";
check(defSkipped ? data.default === def.metadata.name : !("default" in data),
      `configmap: default present exactly when the default class is skipped`);
check(typeof data["static-message"] === "string" && data["static-message"].includes('""'),
      "configmap: static-message present");
for (const k of Object.keys(data)) {
  check(/^(class\.|message\.)[a-z0-9.-]+$/.test(k) || k === "default" || k === "static-message" ||
        k === "edition" || k === "excluded-namespaces" || k === "excluded-namespace-message",
        `configmap: key ${k} belongs to the layout`);
}
check(EXCLUDED.length ? data["excluded-namespaces"] === EXCLUDED.join(",") : !("excluded-namespaces" in data),
      `configmap: excluded-namespaces as edition ${edition} says`);

function testPolicy(file, policy, binding, wantAudit) {
  const tag = `${file}`;
  const s = policy.spec;
  check(policy.apiVersion === "admissionregistration.k8s.io/v1", `${tag}: policy apiVersion v1`);
  check(s.failurePolicy === "Ignore", `${tag}: failurePolicy Ignore`);
  check(s.paramKind?.apiVersion === "v1" && s.paramKind?.kind === "ConfigMap", `${tag}: paramKind ConfigMap`);
  const rules = s.matchConstraints?.resourceRules ?? [];
  check(rules.length === 1 && JSON.stringify(rules[0].operations) === '["CREATE"]' &&
        JSON.stringify(rules[0].resources) === '["persistentvolumeclaims"]' &&
        JSON.stringify(rules[0].apiGroups) === '[""]', `${tag}: matches CREATE persistentvolumeclaims only`);
  check(binding.spec.policyName === policy.metadata.name, `${tag}: binding names the policy`);
  const acts = binding.spec.validationActions ?? [];
  check(!acts.includes("Deny") && acts.includes("Warn") && acts.includes("Audit") === wantAudit &&
        acts.length === (wantAudit ? 2 : 1), `${tag}: validationActions ${JSON.stringify(acts)}`);
  const pr = binding.spec.paramRef ?? {};
  check(pr.name === cm.metadata.name && pr.parameterNotFoundAction === "Allow" &&
        typeof pr.namespace === "string" && pr.namespace !== "", `${tag}: paramRef to the ConfigMap, Allow when absent`);

  const expectWarn = (c, params, expect, what) => {
    let w;
    try { w = admit(policy, c, params); } catch (e) { check(false, `${tag}: ${what}: ${e.message}`); return; }
    if (expect === null) check(w.length === 0, `${tag}: ${what}: no warning (got ${JSON.stringify(w)})`);
    else check(w.length === 1 && expect(w[0]), `${tag}: ${what}: warned as expected (got ${JSON.stringify(w)})`);
  };

  for (const sc of classes) {
    const n = sc.metadata.name, reason = reasonOf(sc, edition);
    expectWarn(claim(`on-${n}`, n), cm, reason === "supported" ? null
      : (m) => m === data[`message.${n}`] && m.includes(`storage class ${n}`), `class ${n} (${reason})`);
  }
  expectWarn(claim("static", ""), cm, (m) => m === data["static-message"], 'storageClassName ""');
  expectWarn(claim("no-class", undefined), cm, defSkipped ? (m) => m.includes(def.metadata.name) : null,
             "no storageClassName");
  expectWarn(claim("unknown", "no-such-class"), cm, null, "class the cluster does not have");

  // Namespaces the edition never backs up: a claim on a supported class there
  // is warned (2026-01), not elsewhere or under 2023-08.
  const supportedClass = classes.find((sc) => reasonOf(sc, edition) === "supported");
  for (const ns of ["kube-system", "kube-node-lease", "kube-public", "default"]) {
    const excluded = EXCLUDED.includes(ns);
    expectWarn(claim(`in-${ns}`, supportedClass.metadata.name, ns), cm,
               excluded ? (m) => m.includes("excluded-namespace") && m.includes(ns) : null,
               `claim in namespace ${ns} (edition ${edition})`);
  }

  // The default class moved to a skipped one: a claim without a class is warned
  // and the message names the default class.
  const moved = JSON.parse(JSON.stringify(cm));
  const skippedClass = classes.find((sc) => reasonOf(sc, edition) !== "supported");
  moved.data.default = skippedClass.metadata.name;
  expectWarn(claim("no-class-2", undefined), moved,
             (m) => m.includes(`default storage class ${skippedClass.metadata.name}`) &&
                    m.includes(moved.data[`message.${skippedClass.metadata.name}`]),
             `no storageClassName, default ${skippedClass.metadata.name} skipped`);
  expectWarn(claim("explicit", "managed-csi"), moved, null, "explicit supported class while the default is skipped");

  // A class listed without its message still names class and reason.
  const bare = { metadata: cm.metadata, data: { "class.foo": "azure-blob" } };
  expectWarn(claim("bare", "foo"), bare, (m) => m.includes("foo") && m.includes("azure-blob"), "class without message");
  expectWarn(claim("bare-static", ""), bare, (m) => m.includes("static"), '"" without static-message');
  // ConfigMap without data, and no params at all (the engine skips the policy
  // then; the expressions must not fail either).
  expectWarn(claim("nodata", "azurefile"), { metadata: cm.metadata }, null, "ConfigMap without data");
  expectWarn(claim("noparams", "azurefile"), null, null, "params null");
}

for (const arg of rendered) {
  const [file, flag] = arg.split(":");
  const docs = YAML.parseAllDocuments(readFileSync(file, "utf8")).map((d) => d.toJS()).filter(Boolean);
  const policies = docs.filter((d) => d.kind === "ValidatingAdmissionPolicy");
  const bindingsFound = docs.filter((d) => d.kind === "ValidatingAdmissionPolicyBinding");
  check(policies.length === 1 && bindingsFound.length === 1, `${file}: one policy and one binding`);
  if (policies.length === 1 && bindingsFound.length === 1) testPolicy(file, policies[0], bindingsFound[0], flag === "audit");
}

console.log(`cel: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
