#!/usr/bin/env python3
"""The public API of a crate, one line per item, from rustdoc's JSON output.

    python3 scripts/api_snapshot.py target/doc/ann_ledger.json > api/ann-ledger.txt

Walks the crate from its root module through public items only: modules, re-exports, types
with their public fields and variants, functions and methods with their signatures, trait
implementations (including the auto traits, Send and Sync: losing one breaks dependents),
constants and statics. Lines are sorted, and nothing in them depends on rustdoc's item ids,
so the text changes exactly when the API does. `scripts/api-snapshot` runs this for every
crate and compares with the files checked in under `api/`.
"""

import json
import sys


def strip_ids(value):
    if isinstance(value, dict):
        return {k: strip_ids(v) for k, v in sorted(value.items()) if k != "id"}
    if isinstance(value, list):
        return [strip_ids(v) for v in value]
    return value


def generic_args(args):
    if not args:
        return ""
    if "angle_bracketed" in args:
        parts = []
        for arg in args["angle_bracketed"]["args"]:
            if "type" in arg:
                parts.append(ty(arg["type"]))
            elif "lifetime" in arg:
                parts.append(arg["lifetime"])
            elif "const" in arg:
                parts.append(str(arg["const"].get("expr", "_")))
            else:
                parts.append("_")
        for c in args["angle_bracketed"].get("constraints", []):
            binding = c.get("binding", {})
            if "equality" in binding and "type" in binding["equality"]:
                parts.append(f"{c['name']} = {ty(binding['equality']['type'])}")
            else:
                parts.append(f"{c['name']}: {json.dumps(strip_ids(binding), sort_keys=True)}")
        return "<" + ", ".join(parts) + ">" if parts else ""
    if "parenthesized" in args:
        p = args["parenthesized"]
        out = ty(p["output"]) if p.get("output") else "()"
        return "(" + ", ".join(ty(t) for t in p["inputs"]) + ") -> " + out
    return json.dumps(strip_ids(args), sort_keys=True)


def bound(b):
    if "trait_bound" in b:
        t = b["trait_bound"]["trait"]
        return t["path"] + generic_args(t.get("args"))
    if "outlives" in b:
        return b["outlives"]
    return json.dumps(strip_ids(b), sort_keys=True)


def ty(t):
    if t is None:
        return "()"
    if "primitive" in t:
        return t["primitive"]
    if "generic" in t:
        return t["generic"]
    if "resolved_path" in t:
        p = t["resolved_path"]
        return p["path"] + generic_args(p.get("args"))
    if "borrowed_ref" in t:
        r = t["borrowed_ref"]
        life = (r["lifetime"] + " ") if r.get("lifetime") else ""
        return "&" + life + ("mut " if r["is_mutable"] else "") + ty(r["type"])
    if "tuple" in t:
        return "(" + ", ".join(ty(x) for x in t["tuple"]) + ")"
    if "slice" in t:
        return "[" + ty(t["slice"]) + "]"
    if "array" in t:
        return "[" + ty(t["array"]["type"]) + "; " + str(t["array"]["len"]) + "]"
    if "impl_trait" in t:
        return "impl " + " + ".join(bound(b) for b in t["impl_trait"])
    if "dyn_trait" in t:
        traits = [x["trait"]["path"] + generic_args(x["trait"].get("args"))
                  for x in t["dyn_trait"]["traits"]]
        return "dyn " + " + ".join(traits)
    if "qualified_path" in t:
        q = t["qualified_path"]
        trait = q.get("trait")
        self_ty = ty(q["self_type"])
        if trait:
            return f"<{self_ty} as {trait['path']}>::{q['name']}"
        return f"{self_ty}::{q['name']}"
    if "raw_pointer" in t:
        r = t["raw_pointer"]
        return ("*mut " if r["is_mutable"] else "*const ") + ty(r["type"])
    return json.dumps(strip_ids(t), sort_keys=True)


def generics(g):
    params = []
    for p in g.get("params", []):
        kind = p["kind"]
        if "lifetime" in kind:
            params.append(p["name"])
        elif "type" in kind:
            bounds = kind["type"].get("bounds", [])
            if kind["type"].get("is_synthetic"):
                continue  # an `impl Trait` argument, shown in the signature
            params.append(p["name"] + (": " + " + ".join(bound(b) for b in bounds) if bounds else ""))
        elif "const" in kind:
            params.append(f"const {p['name']}: {ty(kind['const']['type'])}")
    where = []
    for w in g.get("where_predicates", []):
        if "bound_predicate" in w:
            bp = w["bound_predicate"]
            where.append(ty(bp["type"]) + ": " + " + ".join(bound(b) for b in bp["bounds"]))
        else:
            where.append(json.dumps(strip_ids(w), sort_keys=True))
    text = "<" + ", ".join(params) + ">" if params else ""
    return text, (" where " + ", ".join(where) if where else "")


def signature(name, f):
    sig = f["sig"]
    header = f.get("header", {})
    prefix = ("const " if header.get("is_const") else "") + \
        ("async " if header.get("is_async") else "") + ("unsafe " if header.get("is_unsafe") else "")
    params, where = generics(f["generics"])
    inputs = []
    for arg_name, arg_ty in sig["inputs"]:
        if arg_name == "self":
            shown = ty(arg_ty)
            inputs.append(shown[:-4] + "self" if shown.endswith("Self") else "self: " + shown)
        else:
            inputs.append(f"{arg_name}: {ty(arg_ty)}")
    out = f" -> {ty(sig['output'])}" if sig.get("output") else ""
    return f"{prefix}fn {name}{params}({', '.join(inputs)}){out}{where}"


def is_non_exhaustive(item):
    return any("non_exhaustive" in (a if isinstance(a, str) else json.dumps(a))
               for a in item.get("attrs", []))


class Snapshot:
    def __init__(self, doc):
        self.index = doc["index"]
        self.root = doc["root"]
        self.lines = set()
        self.seen = set()

    def item(self, item_id):
        return self.index.get(str(item_id))

    def field_ty(self, field_id):
        """A field's type; `_` for a field rustdoc left out (private, in a tuple)."""
        field = self.item(field_id) if field_id is not None else None
        return ty(field["inner"]["struct_field"]) if field else "_"

    def walk_module(self, module_id, path):
        module = self.item(module_id)
        for child_id in module["inner"]["module"]["items"]:
            child = self.item(child_id)
            if child is None or child.get("visibility") != "public":
                continue
            self.walk_item(child, path)

    def walk_item(self, item, path):
        inner = item["inner"]
        kind = next(iter(inner))
        name = item.get("name")
        full = f"{path}::{name}" if name else path
        if is_non_exhaustive(item):
            self.lines.add(f"#[non_exhaustive] {full}")
        if kind == "use":
            use = inner["use"]
            target = self.item(use["id"]) if use.get("id") is not None else None
            glob = "::*" if use["is_glob"] else ""
            self.lines.add(f"pub use {path}::{{{use['source']}{glob}}} as {use['name']}")
            # A re-exported module of this crate is part of the API under its new name too.
            if target is not None and "module" in target["inner"] and not use["is_glob"]:
                key = ("module", use["id"], f"{path}::{use['name']}")
                if key not in self.seen:
                    self.seen.add(key)
                    self.walk_module(use["id"], f"{path}::{use['name']}")
            return
        if kind == "module":
            self.lines.add(f"pub mod {full}")
            self.walk_module(item["id"], full)
        elif kind == "function":
            self.lines.add(f"pub {signature(full, inner['function'])}")
        elif kind == "struct":
            s = inner["struct"]
            params, where = generics(s["generics"])
            shape = s["kind"]
            if shape == "unit":
                self.lines.add(f"pub struct {full}{params};{where}")
            elif "tuple" in shape:
                fields = ", ".join(self.field_ty(fid) for fid in shape["tuple"])
                self.lines.add(f"pub struct {full}{params}({fields}){where}")
            else:
                self.lines.add(f"pub struct {full}{params}{where}")
                plain = shape["plain"]
                for fid in plain["fields"]:
                    field = self.item(fid)
                    if field and field.get("visibility") == "public":
                        self.lines.add(f"pub field {full}.{field['name']}: {self.field_ty(fid)}")
                if plain.get("has_stripped_fields"):
                    self.lines.add(f"struct {full} has private fields")
            self.impls(full, s["impls"])
        elif kind == "enum":
            e = inner["enum"]
            params, where = generics(e["generics"])
            self.lines.add(f"pub enum {full}{params}{where}")
            for vid in e["variants"]:
                variant = self.item(vid)
                vk = variant["inner"]["variant"]["kind"]
                if vk == "plain":
                    shape = ""
                elif "tuple" in vk:
                    shape = "(" + ", ".join(self.field_ty(f) for f in vk["tuple"]) + ")"
                else:
                    shape = " { " + ", ".join(
                        f"{self.item(f)['name']}: {self.field_ty(f)}"
                        for f in vk["struct"]["fields"]) + " }"
                self.lines.add(f"pub variant {full}::{variant['name']}{shape}")
                if is_non_exhaustive(variant):
                    self.lines.add(f"#[non_exhaustive] {full}::{variant['name']}")
            self.impls(full, e["impls"])
        elif kind == "trait":
            t = inner["trait"]
            params, where = generics(t["generics"])
            self.lines.add(f"pub trait {full}{params}{where}")
            for mid in t["items"]:
                member = self.item(mid)
                mk = next(iter(member["inner"]))
                if mk == "function":
                    self.lines.add(f"trait {full}: {signature(member['name'], member['inner']['function'])}")
                else:
                    self.lines.add(f"trait {full}: {mk} {member['name']}")
        elif kind == "type_alias":
            self.lines.add(f"pub type {full} = {ty(inner['type_alias']['type'])}")
        elif kind == "constant":
            c = inner["constant"]
            self.lines.add(f"pub const {full}: {ty(c['type'])}")
        elif kind == "static":
            self.lines.add(f"pub static {full}: {ty(inner['static']['type'])}")
        elif kind == "macro":
            self.lines.add(f"pub macro {full}")
        else:
            self.lines.add(f"pub {kind} {full}")

    def impls(self, owner, impl_ids):
        for iid in impl_ids:
            imp = self.item(iid)
            if imp is None:
                continue
            i = imp["inner"]["impl"]
            if i.get("blanket_impl") is not None:
                continue  # From<T> for T and the like: the same for every type
            trait = i.get("trait")
            if trait is not None:
                neg = "!" if i.get("is_negative") else ""
                self.lines.add(f"impl {neg}{trait['path']}{generic_args(trait.get('args'))} for {owner}")
                continue
            for mid in i["items"]:
                member = self.item(mid)
                if member is None or member.get("visibility") != "public":
                    continue
                mk = next(iter(member["inner"]))
                if mk == "function":
                    self.lines.add(f"pub {signature(owner + '::' + member['name'], member['inner']['function'])}")
                elif mk == "constant":
                    self.lines.add(f"pub const {owner}::{member['name']}: "
                                   f"{ty(member['inner']['constant']['type'])}")
                else:
                    self.lines.add(f"pub {mk} {owner}::{member['name']}")


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(sys.argv[1]) as f:
        doc = json.load(f)
    snapshot = Snapshot(doc)
    root = snapshot.item(snapshot.root)
    snapshot.walk_module(snapshot.root, root["name"])
    for line in sorted(snapshot.lines):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
