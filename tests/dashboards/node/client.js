// A dashboard client written from PROTOCOL.md alone: it reads the document's own
// tables (topic kinds, field tables) at start, subscribes to everything under the
// prefix and to Home Assistant's discovery topics, and decodes every message, msgpack
// or JSON view. One JSON line per message on stdout; a summary line when stdin closes.
//
//   node client.js <broker url> <prefix> <PROTOCOL.md> <ha prefix>
"use strict";

const fs = require("fs");
const mqtt = require("mqtt");
const { decode } = require("@msgpack/msgpack");

const [url, prefix, docPath, haPrefix] = process.argv.slice(2);
const doc = fs.readFileSync(docPath, "utf8");

// "Which table each topic carries": topic kind -> msgpack pattern, table, JSON pattern.
function topicTable() {
  const block = doc.split("<!-- payloads:begin -->")[1].split("<!-- payloads:end -->")[0];
  const rows = [];
  for (const line of block.split("\n")) {
    const m = line.match(
      /^\| `(\w+)` \| (?:`([^`]+)`|-) \| \[`(\w+)`\]\([^)]*\) \| (?:`([^`]+)`|-) \|$/);
    if (m) rows.push({ kind: m[1], wire: m[2] || null, table: m[3], json: m[4] || null });
  }
  return rows;
}

// "Fields": table name -> [{key, name, type, required}].
function fieldTables() {
  const block = doc.split("<!-- fields:begin -->")[1].split("<!-- fields:end -->")[0];
  const tables = {};
  let current = null;
  for (const line of block.split("\n")) {
    const h = line.match(/^#### `(\w+)`/);
    if (h) { current = h[1]; tables[current] = []; continue; }
    const m = line.match(/^\| (\d+) \| `(\w+)` \| (.+) \| (yes|no) \|$/);
    if (m && current) tables[current].push({ key: Number(m[1]), name: m[2], type: m[3],
                                              required: m[4] === "yes" });
  }
  return tables;
}

const KINDS = topicTable();
const TABLES = fieldTables();
const DEFAULT_PREFIX = "ec/v1";

// A doc pattern "ec/v1/dev/{id}/state" under our prefix, as a RegExp with one group.
function matcher(pattern) {
  const p = pattern.replace(DEFAULT_PREFIX, prefix);
  const re = p.split("/").map((s) => (s === "{id}" ? "([A-Za-z0-9_-]{1,64})"
                                       : s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")));
  return new RegExp("^" + re.join("/") + "$");
}
const ROUTES = [];
for (const k of KINDS) {
  if (k.wire) ROUTES.push({ re: matcher(k.wire), kind: k.kind, table: k.table,
                            encoding: "msgpack" });
  if (k.json) ROUTES.push({ re: matcher(k.json), kind: k.kind, table: k.table,
                            encoding: "json" });
}

function checkType(type, value, where) {
  const fail = (why) => { throw new Error(`${where}: ${why} (${JSON.stringify(value)})`); };
  if (type.startsWith("uint") || type.startsWith("int ")) {
    if (!Number.isInteger(value)) fail(`want ${type}`);
  } else if (type.startsWith("float32")) {
    if (typeof value !== "number") fail("want a number");
    const range = type.match(/([\d.]+)\.\.([\d.]+)/);
    if (range && (value < Number(range[1]) || value > Number(range[2]))) fail(`out of ${type}`);
  } else if (type === "bool") {
    if (typeof value !== "boolean") fail("want bool");
  } else if (type === "id (str)" || type.startsWith("str")) {
    if (typeof value !== "string") fail("want str");
    const choices = [...type.matchAll(/`(\w+)`/g)].map((m) => m[1]);
    if (choices.length && !choices.includes(value)) fail(`not one of ${choices}`);
  } else if (type === "bin") {
    if (!(value instanceof Uint8Array) && typeof value !== "string") fail("want bin");
  } else if (type.startsWith("array")) {
    if (!Array.isArray(value)) fail("want array");
  } else if (type.startsWith("map")) {
    if (typeof value !== "object" || value === null) fail("want map");
  }
}

// msgpack: integer keys arrive as strings ("1", "2", ...), as PROTOCOL.md warns.
function fromWire(table, raw, where) {
  const out = {};
  for (const f of TABLES[table]) {
    const k = String(f.key);
    if (!(k in raw)) {
      if (f.required) throw new Error(`${where}: missing ${f.name} (key ${f.key})`);
      continue;
    }
    let v = raw[k];
    checkType(f.type, v, `${where}.${f.name}`);
    const nested = f.type.match(/map: (\w+)/);
    if (nested && f.type.startsWith("array")) v = v.map((x, i) =>
      fromWire(nested[1], x, `${where}.${f.name}[${i}]`));
    else if (nested) v = fromWire(nested[1], v, `${where}.${f.name}`);
    if (v instanceof Uint8Array) v = Buffer.from(v).toString("hex");
    if (f.name !== "schema") out[f.name] = v;
  }
  if (TABLES[table].some((f) => f.key === 0) && !(raw["0"] >= 1)) {
    throw new Error(`${where}: schema version missing`);
  }
  return out;
}

// JSON view: the same field names, plus schema, kind, (results) label_name and
// (metrics) nested.
const VIEW_EXTRAS = new Set(["label_name", "nested"]);
function fromJson(table, obj, where) {
  if (obj.kind !== table) throw new Error(`${where}: kind ${obj.kind}, want ${table}`);
  const names = new Set(TABLES[table].map((f) => f.name));
  for (const f of TABLES[table]) {
    if (f.name === "schema") continue;
    if (f.required && !(f.name in obj)) throw new Error(`${where}: missing ${f.name}`);
    if (f.name in obj) checkType(f.type, obj[f.name], `${where}.${f.name}`);
  }
  const out = {};
  for (const [k, v] of Object.entries(obj)) {
    if (k === "schema" || k === "kind") continue;
    if (!names.has(k) && !VIEW_EXTRAS.has(k)) throw new Error(`${where}: unknown field ${k}`);
    out[k] = v;
  }
  return out;
}

const counts = {};
let failures = 0;
const client = mqtt.connect(url, { protocolVersion: 4, clean: true,
                                   clientId: "node-dash-" + process.pid });
client.on("connect", () => {
  client.subscribe([`${prefix}/#`, `${haPrefix}/#`], { qos: 1 }, (err) => {
    process.stdout.write(JSON.stringify({ subscribed: !err }) + "\n");
  });
});
client.on("message", (topic, payload) => {
  const line = { topic };
  try {
    if (topic.startsWith(haPrefix + "/")) {
      line.kind = "ha";
      line.encoding = "json";
      line.message = payload.length ? JSON.parse(payload.toString("utf8")) : null;
    } else {
      const route = ROUTES.find((r) => r.re.test(topic));
      if (!route) throw new Error("topic matches no documented kind");
      line.kind = route.kind;
      line.encoding = route.encoding;
      line.id = topic.match(route.re)[1];
      line.message = payload.length === 0 ? null
        : route.encoding === "json"
          ? fromJson(route.table, JSON.parse(payload.toString("utf8")), route.table)
          : fromWire(route.table, decode(payload), route.table);
    }
    const key = `${line.kind}/${line.encoding}`;
    counts[key] = (counts[key] || 0) + 1;
  } catch (e) {
    failures += 1;
    line.error = String(e.message || e);
  }
  process.stdout.write(JSON.stringify(line) + "\n");
});
process.stdin.on("data", () => {});
process.stdin.on("end", () => {
  process.stdout.write(JSON.stringify({ summary: counts, failures }) + "\n");
  client.end(false, () => process.exit(0));
});
