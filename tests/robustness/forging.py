"""Forged model files: the edits an attacker (or a bad transfer) makes, hashes recomputed.

:func:`forged_case` builds case ``index`` deterministically from a model file's
bytes, so a child process can rebuild any case from its number alone and a
failure names the case. Every edit is followed by recomputing the part sizes,
the part SHA-256s and the manifest hash (an unsigned file stays unsigned), so
only the content checks of :func:`covid_risk.models.load` can refuse it.

This module imports nothing from covid_risk: it runs in the child processes of
``test_forged_model_files.py`` beside the code under test.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import struct

__all__ = ["KINDS", "forge", "forged_case", "split"]

MAGIC = b"\x89COVIDRISK\r\n\x1a\n"
HEADER = struct.Struct(">Q32s32s")
PREFIX = len(MAGIC) + HEADER.size

_TREE_ARRAYS = (
    "split_feature", "split_gain", "threshold", "decision_type", "left_child", "right_child",
    "leaf_value", "leaf_weight", "leaf_count", "internal_value", "internal_weight",
    "internal_count",
)
_TREE_SCALARS = ("num_leaves", "num_cat", "is_linear", "shrinkage")
_HEADER_KEYS = ("num_class", "num_tree_per_iteration", "label_index", "max_feature_idx",
                "version", "objective", "tree_sizes", "feature_infos", "monotone_constraints")
_BAD_NUMBERS = ("0", "-1", "1", "2", "9", "255", "-2", "2147483647", "-2147483648",
                "99999999999999999999", "nan", "NaN", "inf", "-inf", "1e308", "1e999", "-1e999",
                "", "x", "1e-400", "0x10", "1.5", "-0", "+3", " ", "1 2")
_BAD_JSON = ("NaN", "Infinity", "-Infinity", "1e999", "null", '"0.5"', "[]", "{}", "true",
             "1" * 5000, "-1", "0", "1e300", "[" * 100_000 + "]" * 100_000)


def split(data: bytes) -> tuple[dict, bytes, dict[str, bytes]]:
    """(manifest, signature, {part name: bytes}) of a model file."""
    length, _, signature = HEADER.unpack_from(data, len(MAGIC))
    manifest = json.loads(data[PREFIX : PREFIX + length])
    parts, offset = {}, PREFIX + length
    for entry in manifest["parts"]:
        parts[entry["name"]] = data[offset : offset + entry["size"]]
        offset += entry["size"]
    return manifest, signature, parts


def forge(data: bytes, *, parts: dict[str, bytes] | None = None,
          manifest_text: bytes | None = None, edit_manifest=None) -> bytes:
    """Re-pack a model file with new parts and recomputed sizes, SHA-256s and manifest hash."""
    manifest, signature, old_parts = split(data)
    parts = {**old_parts, **(parts or {})}
    for entry in manifest["parts"]:
        entry["size"] = len(parts[entry["name"]])
        entry["sha256"] = hashlib.sha256(parts[entry["name"]]).hexdigest()
    names = [e["name"] for e in manifest["parts"]]
    if edit_manifest is not None:
        edit_manifest(manifest)
    body = manifest_text
    if body is None:
        body = (json.dumps(manifest, sort_keys=True, indent=1) + "\n").encode()
    header = HEADER.pack(len(body), hashlib.sha256(body).digest(), signature)
    return MAGIC + header + body + b"".join(parts[n] for n in names)


def _resize(text: str) -> str:
    """Recompute ``tree_sizes`` from the tree blocks (so only deeper checks can refuse)."""
    start, end = text.find("Tree=0\n"), text.find("end of trees")
    if start < 0 or end < start:
        return text
    blocks = re.split(r"(?=^Tree=)", text[start:end], flags=re.MULTILINE)
    sizes = " ".join(str(len(b.encode())) for b in blocks if b)
    return re.sub(r"^tree_sizes=.*$", f"tree_sizes={sizes}", text, count=1, flags=re.MULTILINE)


def _tree_spans(lines: list[str]) -> list[tuple[int, int]]:
    starts = [i for i, line in enumerate(lines) if line.startswith("Tree=")]
    end = lines.index("end of trees") if "end of trees" in lines else len(lines)
    return list(zip(starts, [*starts[1:], end], strict=True))


def _set_token(line: str, rng: random.Random, value: str) -> str:
    key, _, rest = line.partition("=")
    tokens = rest.split(" ") if rest else [""]
    tokens[rng.randrange(len(tokens))] = value
    return f"{key}={' '.join(tokens)}"


def _booster_edit(text: str, rng: random.Random, kind: str) -> tuple[str, str]:
    lines = text.split("\n")
    spans = _tree_spans(lines)
    t0, t1 = spans[rng.randrange(len(spans))]
    tree_lines = {lines[i].partition("=")[0]: i for i in range(t0, t1)}
    if kind == "digit":  # same-length edit of one digit anywhere
        where = [i for i, line in enumerate(lines) if any(c.isdigit() for c in line)]
        i = rng.choice(where)
        positions = [p for p, c in enumerate(lines[i]) if c.isdigit()]
        p = rng.choice(positions)
        lines[i] = lines[i][:p] + rng.choice("0123456789") + lines[i][p + 1 :]
        return "\n".join(lines), f"digit edit on line {i}"
    if kind == "char":  # same-length edit to any printable character
        i = rng.randrange(len(lines))
        if not lines[i]:
            lines[i] = rng.choice("x=- 0")
        else:
            p = rng.randrange(len(lines[i]))
            lines[i] = lines[i][:p] + chr(rng.randrange(32, 127)) + lines[i][p + 1 :]
        return "\n".join(lines), f"character edit on line {i}"
    if kind == "tree_number":
        key = rng.choice(_TREE_ARRAYS + _TREE_SCALARS)
        i = tree_lines.get(key)
        if i is None:
            return text, "no-op"
        value = rng.choice(_BAD_NUMBERS)
        lines[i] = _set_token(lines[i], rng, value)
        return "\n".join(lines), f"{key} token -> {value!r} (line {i})"
    if kind == "header_number":
        key = rng.choice(_HEADER_KEYS)
        for i, line in enumerate(lines[:t0]):
            if line.startswith(key + "="):
                value = rng.choice(_BAD_NUMBERS)
                lines[i] = _set_token(line, rng, value)
                return "\n".join(lines), f"header {key} token -> {value!r}"
        return text, "no-op"
    if kind == "structure":
        nodes = int(lines[tree_lines["num_leaves"]].partition("=")[2] or 1) - 1
        choice = rng.randrange(9)
        side = rng.choice(["left_child", "right_child"])
        i = tree_lines[side]
        if choice == 0 and nodes:  # self-loop
            k = rng.randrange(nodes)
            tokens = lines[i].partition("=")[2].split(" ")
            tokens[k] = str(k)
            lines[i] = f"{side}={' '.join(tokens)}"
            return "\n".join(lines), f"self-loop at node {k} ({side})"
        if choice == 1 and nodes:  # back edge to the root: a cycle
            lines[i] = _set_token(lines[i], rng, "0")
            return "\n".join(lines), f"cycle to the root ({side})"
        if choice == 2:  # out-of-range child or leaf
            value = str(rng.choice([nodes, nodes + 5, -nodes - 2, -1000, 10**6]))
            lines[i] = _set_token(lines[i], rng, value)
            return "\n".join(lines), f"{side} out of range -> {value}"
        if choice == 3:  # drop a line of the tree
            j = rng.randrange(t0, t1)
            del lines[j]
            return "\n".join(lines), f"dropped line {j}"
        if choice == 4:  # duplicate a tree block
            lines[t1:t1] = lines[t0:t1]
            return "\n".join(lines), "duplicated a tree"
        if choice == 5:  # swap two lines in a tree
            a, b = rng.randrange(t0, t1), rng.randrange(t0, t1)
            lines[a], lines[b] = lines[b], lines[a]
            return "\n".join(lines), f"swapped lines {a} and {b}"
        if choice == 6:  # num_leaves raised or lowered, arrays unchanged
            value = str(rng.choice([0, 1, nodes, nodes + 2, 10**6]))
            lines[tree_lines["num_leaves"]] = f"num_leaves={value}"
            return "\n".join(lines), f"num_leaves -> {value}"
        if choice == 7:  # cut the text
            cut = rng.randrange(len(text))
            return text[:cut], f"cut at {cut}"
        lines[t0] = f"Tree={rng.choice([0, 5, -1, 10**9])}"
        return "\n".join(lines), "renumbered a tree"
    raise AssertionError(kind)


KINDS = ("digit", "char", "tree_number", "header_number", "structure", "calibrator",
         "json_part", "manifest", "huge", "parameter")


def forged_case(base: bytes, index: int) -> tuple[str, bytes]:
    """Forged file number ``index`` (deterministic): (description, bytes)."""
    rng = random.Random(index)
    manifest, _, parts = split(base)
    boosters = sorted(n for n in parts if n.startswith("boosters/"))
    # mostly booster edits, as in the red-team report; a few of every other kind
    weights = (22, 10, 22, 8, 22, 6, 4, 4, 2, 4)
    kind = rng.choices(KINDS, weights=weights)[0]
    if kind == "huge":  # only a handful of huge cases, at fixed numbers
        kind = "digit"
    if index % 250 == 7:
        kind = "huge"
    if kind == "parameter":  # the parameters block: LightGBM re-reads it on load
        name = rng.choice(boosters)
        text = parts[name].decode()
        lines = text.split("\n")
        where = [i for i, line in enumerate(lines) if line.startswith("[") and ": " in line]
        i = rng.choice(where)
        key = lines[i][1:].partition(": ")[0]
        value = rng.choice(["0", "-1", "99999999999999999999", "100000000", "x", "", "1e10",
                            "regression", "gpu", "dart", "nan", "inf", "1,2,3", "-0.5"])
        lines[i] = f"[{key}: {value}]"
        return f"parameter {name}: {key} -> {value}", forge(
            base, parts={name: "\n".join(lines).encode()})
    if kind in ("digit", "char", "tree_number", "header_number", "structure"):
        name = rng.choice(boosters)
        text, what = _booster_edit(parts[name].decode(), rng, kind)
        if kind in ("tree_number", "structure") and rng.random() < 0.5:
            text, what = _resize(text), what + ", tree_sizes recomputed"
        return f"{kind} {name}: {what}", forge(base, parts={name: text.encode()})
    if kind == "calibrator":
        name = rng.choice(sorted(n for n in parts if n.startswith("calibrators/")))
        doc = json.loads(parts[name])
        keys = [k for k in doc if k not in ("outcome", "method")]
        key = rng.choice(keys)
        value = rng.choice(_BAD_JSON)
        if isinstance(doc[key], list) and doc[key] and rng.random() < 0.5:
            body = json.dumps({**doc, key: "@@"}).replace('"@@"', json.dumps(doc[key])[:-1]
                                                          + f", {value}]")
        else:
            body = json.dumps({**doc, key: "@@"}).replace('"@@"', value)
        return f"calibrator {name}: {key} -> {value[:20]}", forge(base, parts={name: body.encode()})
    if kind == "json_part":
        name = rng.choice(["model.json", "schema.json"])
        doc = json.loads(parts[name])
        key = rng.choice(sorted(doc))
        value = rng.choice(_BAD_JSON + ('["age"]', '"x"'))
        body = json.dumps({**doc, key: "@@"}).replace('"@@"', value)
        return f"json {name}: {key} -> {value[:20]}", forge(base, parts={name: body.encode()})
    if kind == "manifest":
        key = rng.choice(["setting", "outcomes", "format", "signed", "parts", "created",
                          "schema_hash", "library_version"])
        value = rng.choice(['["admission"]', '{"a": 1}', "null", "1" * 5000, "NaN", "[[]]",
                            '"admission"', "[" * 100_000 + "]" * 100_000, "true", "-1"])

        text = json.dumps({**manifest, key: "@@"}, sort_keys=True, indent=1)
        text = text.replace('"@@"', value) + "\n"
        return f"manifest {key} -> {value[:20]}", forge(base, manifest_text=text.encode())
    # huge: a junk line of 150 MB (or 40 MB, within the size limit) inside a booster
    name = rng.choice(boosters)
    size = 150_000_000 if index == 7 else 40_000_000  # one 150 MB case (memory)
    part = parts[name]
    at = part.find(b"\nTree=1\n") + 1
    # bytes, joined once: the peak is about twice the junk, not six times
    forged = b"".join([part[:at], b"leaf_value=", b"1" * size, b"\n", part[at:]])
    del parts
    return f"huge {name}: a junk line of {size} bytes", forge(base, parts={name: forged})
