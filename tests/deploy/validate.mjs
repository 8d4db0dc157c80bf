// Validates every object of rendered manifests against the Kubernetes OpenAPI
// schemas: kubernetes-models (ajv validators generated from the Kubernetes
// OpenAPI spec) and @kubernetes-models/prometheus-operator (generated from the
// operator's CRDs) for ServiceMonitor and PrometheusRule. ajv does not reject
// unknown fields (the schemas allow them, like kubeconform without -strict), so
// a second, strict pass walks each object along the packages' type
// declarations (.d.ts) and fails on any field the API does not define.
// Usage: node validate.mjs RENDERED.yaml...   (run from the npm directory)
import { readFileSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { createRequire } from "node:module";
import YAML from "yaml";

const require = createRequire(import.meta.url);
const nm = join(dirname(require.resolve("yaml/package.json")), "..");

// apiVersion -> module of kubernetes-models (or a CRD package).
function modulePath(apiVersion) {
  if (apiVersion === "monitoring.coreos.com/v1") return "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1";
  return `kubernetes-models/${apiVersion}`;
}

// ---- strict pass: a small reader of the packages' .d.ts declarations ----
const fileCache = new Map();
function dts(path) {
  if (fileCache.has(path)) return fileCache.get(path);
  const src = readFileSync(path, "utf8").replace(/\/\*[\s\S]*?\*\//g, "");
  const imports = new Map();
  for (const m of src.matchAll(/import\s*\{([^}]*)\}\s*from\s*"([^"]+)";/g)) {
    for (const part of m[1].split(",")) {
      const [orig, local] = part.trim().split(/\s+as\s+/);
      if (orig) imports.set((local ?? orig).trim(), { name: orig.trim(), from: m[2] });
    }
  }
  const aliases = new Map(); // exported alias -> local name
  for (const m of src.matchAll(/export type \{([^}]*)\}/g)) {
    for (const part of m[1].split(",")) {
      const [orig, alias] = part.trim().split(/\s+as\s+/);
      if (alias) aliases.set(alias.trim(), orig.trim());
    }
  }
  const f = { path, src, imports, aliases };
  fileCache.set(path, f);
  return f;
}
function resolveImport(fromFile, spec) {
  let p;
  if (spec.startsWith(".")) p = join(dirname(fromFile), spec.replace(/\.js$/, ""));
  else p = join(nm, spec);
  for (const c of [p + ".d.ts", join(p, "index.d.ts")]) if (existsSync(c)) return c;
  return null;
}
// Body text between the brace at `open` and its match.
function braceBody(s, open) {
  let depth = 0;
  for (let i = open; i < s.length; i++) {
    if (s[i] === "{") depth++;
    else if (s[i] === "}" && --depth === 0) return s.slice(open + 1, i);
  }
  throw new Error("unbalanced braces");
}
// Splits `a; b; c` at top level (outside {} <> ()).
function splitTop(s, sep) {
  const out = []; let depth = 0, cur = "";
  for (const ch of s) {
    if ("{<(".includes(ch)) depth++;
    else if ("}>)".includes(ch)) depth--;
    if (ch === sep && depth === 0) { out.push(cur); cur = ""; } else cur += ch;
  }
  if (cur.trim()) out.push(cur);
  return out.map((x) => x.trim()).filter(Boolean);
}
// Type descriptors: {k:"any"} {k:"scalar"} {k:"array",of} {k:"map",of} {k:"object",props,file}
function parseType(t, file) {
  t = t.trim();
  const alts = splitTop(t, "|");
  if (alts.length > 1) {
    const ts = alts.map((a) => parseType(a, file));
    return ts.every((x) => x.k === "scalar") ? { k: "scalar" } : { k: "any" };
  }
  if (/^(string|number|boolean|null|"[^"]*")$/.test(t)) return { k: "scalar" };
  if (t === "any" || t === "unknown" || t === "object" || t === "{}") return { k: "any" };
  let m = t.match(/^Array<([\s\S]*)>$/);
  if (m) return { k: "array", of: () => parseType(m[1], file) };
  if (t.startsWith("{")) {
    const body = braceBody(t, 0);
    const mm = body.trim().match(/^\[key: string\]:\s*([\s\S]*?);?$/);
    if (mm) return { k: "map", of: () => parseType(mm[1], file) };
    return { k: "object", props: parseProps(body, file) };
  }
  if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(t)) return resolveName(t, file);
  return { k: "any" };
}
function parseProps(body, file) {
  const props = new Map();
  for (const decl of splitTop(body, ";")) {
    const m = decl.match(/^"?([^"?:]+)"?(\?)?:\s*([\s\S]*)$/);
    if (!m) continue;
    const [, name, , type] = m;
    props.set(name, () => parseType(type, file));
  }
  return props;
}
const nameCache = new Map();
function resolveName(name, file) {
  const key = file.path + "#" + name;
  if (nameCache.has(key)) return nameCache.get(key);
  const placeholder = { k: "any" };
  nameCache.set(key, placeholder);
  let r = { k: "any" };
  const local = file.aliases.get(name) ?? name;
  const iface = new RegExp(`export interface ${local}(?:\\s+extends\\s+([A-Za-z0-9_, ]+))?\\s*\\{`).exec(file.src);
  const alias = new RegExp(`export type ${local}\\s*=\\s*([^;]+);`).exec(file.src);
  if (iface) {
    const props = parseProps(braceBody(file.src, iface.index + iface[0].length - 1), file);
    if (iface[1] && /\bTypeMeta\b/.test(iface[1])) {
      props.set("apiVersion", () => ({ k: "scalar" }));
      props.set("kind", () => ({ k: "scalar" }));
    }
    r = { k: "object", props };
  } else if (alias) {
    r = parseType(alias[1], file);
  } else if (file.imports.has(name)) {
    const imp = file.imports.get(name);
    const p = resolveImport(file.path, imp.from);
    if (p) r = resolveName(imp.name, dts(p));
  }
  Object.assign(placeholder, r);
  return placeholder;
}
function strictCheck(value, type, path, errors) {
  if (value === null || value === undefined || type.k === "any" || type.k === "scalar") return;
  if (type.k === "array") {
    if (Array.isArray(value)) value.forEach((v, i) => strictCheck(v, type.of(), `${path}[${i}]`, errors));
  } else if (type.k === "map") {
    if (typeof value === "object") for (const [k, v] of Object.entries(value)) strictCheck(v, type.of(), `${path}.${k}`, errors);
  } else if (type.k === "object" && typeof value === "object" && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) {
      const p = type.props.get(k);
      if (!p) errors.push(`${path}.${k}: unknown field`);
      else strictCheck(v, p(), `${path}.${k}`, errors);
    }
  }
}

// ---- main ----
let passed = 0, failed = 0;
const seen = new Map();
for (const file of process.argv.slice(2)) {
  const docs = YAML.parseAllDocuments(readFileSync(file, "utf8"));
  for (const d of docs) {
    if (d.errors.length) { failed++; console.log(`FAIL ${file}: YAML: ${d.errors[0].message}`); continue; }
    const obj = d.toJS();
    if (!obj) continue;
    const id = `${file}: ${obj.kind}/${obj.metadata?.name}`;
    const problems = [];
    let Cls = null;
    try {
      const mod = await import(modulePath(obj.apiVersion));
      Cls = mod[obj.kind];
    } catch (e) { /* reported below */ }
    if (!Cls) problems.push(`no schema for ${obj.apiVersion} ${obj.kind}`);
    else {
      try { new Cls(obj).validate(); } catch (e) { problems.push(`schema: ${e.message}`); }
      const dir = join(nm, modulePath(obj.apiVersion));
      const type = resolveName(`I${obj.kind}`, dts(join(dir, `${obj.kind}.d.ts`)));
      if (type.k !== "object") problems.push(`strict: no type declaration for ${obj.kind}`);
      const errs = [];
      strictCheck(obj, type, obj.kind, errs);
      problems.push(...errs.map((e) => `strict: ${e}`));
    }
    if (!obj.metadata?.name) problems.push("metadata.name missing");
    if (problems.length) { failed++; console.log(`FAIL ${id}\n  ${problems.join("\n  ")}`); }
    else { passed++; seen.set(obj.kind, (seen.get(obj.kind) ?? 0) + 1); }
  }
}
console.log(`validated: ${[...seen].map(([k, n]) => `${k} ${n}`).join(", ")}`);
console.log(`schema: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
