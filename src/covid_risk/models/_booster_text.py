"""A strict reader of LightGBM's text model format, run before LightGBM sees a text.

LightGBM's own parser trusts its input: on a crafted or damaged text it can abort
the process (``Check failed``), read out of bounds (a child index out of range,
``num_leaves=0``, an unknown decision type), divide by zero
(``num_tree_per_iteration=0``), loop forever (a node that is its own child) or
allocate without bound. :func:`parse_booster_text` therefore proves a text
well-formed first, line by line, and only a text that passes is ever handed to
LightGBM. Nothing outside the grammar below is accepted, so a text that passes
cannot crash or hang LightGBM's loader or predictor.

This check makes the unsigned default safe against accidents and crafted files
alike, but it does not make a forged model *correct*: a forger can still write
well-formed trees that give wrong risks. Only the HMAC signature
(``COVID_RISK_MODEL_KEY``) detects a deliberate change.

Grammar (what :meth:`RiskModel.save` writes with LightGBM 4)
-------------------------------------------------------------
* header: ``tree``, then ``key=value`` lines, each key once: ``version=v4``,
  ``num_class=1``, ``num_tree_per_iteration=1``, ``label_index=0``,
  ``max_feature_idx`` (the model's feature count minus one), ``objective``
  (``binary sigmoid:1``), ``feature_names`` (the model's names, in order),
  ``monotone_constraints`` (optional; -1, 0 or 1 per feature),
  ``feature_infos`` (``none`` or ``[lo:hi]`` with finite bounds per feature),
  ``tree_sizes`` (the byte size of every tree block); then a blank line;
* trees ``Tree=0``, ``Tree=1``, ... each exactly the size ``tree_sizes`` states,
  with exactly the keys ``num_leaves``, ``num_cat``, ``split_feature``,
  ``split_gain``, ``threshold``, ``decision_type``, ``left_child``,
  ``right_child``, ``leaf_value``, ``leaf_weight``, ``leaf_count``,
  ``internal_value``, ``internal_weight``, ``internal_count``, ``is_linear``,
  ``shrinkage`` in that order, and two blank lines. Node arrays hold
  ``num_leaves - 1`` values, leaf arrays ``num_leaves`` (the weight and count
  arrays may be empty, as LightGBM writes them for a one-leaf tree);
  ``num_cat=0`` and ``is_linear=0`` (our models have neither categorical
  splits nor linear leaves); decision types only the numerical ones
  (:data:`NUMERICAL_DECISION_TYPES`); split features below the feature count;
  children in range and every node reached exactly once from the root (a
  tree: no cycle, no shared or orphaned node; leaves are ``~leaf``, i.e.
  negative); every number finite, leaf values at most
  :data:`MAX_ABS_LEAF_VALUE` in size, counts non-negative;
* ``end of trees``, a ``feature_importances:`` block of ``name=count`` lines, a
  ``parameters:`` block of ``[name: value]`` lines, ``end of parameters`` and
  the line ``pandas_categorical:null`` (or ``[]``) and a final newline.

Limits (with wide headroom over the bundled models: at most 440 trees of
8 leaves, 454 KB per booster)
---------------------------------------------------------------------------
:data:`MAX_BOOSTER_BYTES` 64 MiB per booster text, :data:`MAX_TREES` 10,000
trees, :data:`MAX_LEAVES` 1,024 leaves per tree, :data:`MAX_TOKEN_CHARS` 64
characters per number, :data:`MAX_TAIL_LINES` 2,000 lines after the trees.
The byte limit bounds the memory LightGBM's parser needs (a few times the text);
the tree and leaf limits bound prediction time.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

__all__ = [
    "MAX_ABS_LEAF_VALUE",
    "MAX_BOOSTER_BYTES",
    "MAX_LEAVES",
    "MAX_TAIL_LINES",
    "MAX_TOKEN_CHARS",
    "MAX_TREES",
    "NUMERICAL_DECISION_TYPES",
    "BoosterTextError",
    "BoosterSummary",
    "parse_booster_text",
]

MAX_BOOSTER_BYTES: int = 64 * 1024 * 1024
"""Largest booster text accepted (the bundled ones are under 0.5 MB)."""

MAX_TREES: int = 10_000
"""Most trees per booster (the bundled boosters have at most 440)."""

MAX_LEAVES: int = 1_024
"""Most leaves per tree (the bundled trees have at most 8; LightGBM's default is 31)."""

MAX_ABS_LEAF_VALUE: float = 1e3
"""Largest leaf value (a log-odds contribution; the bundled ones are below 4).
With :data:`MAX_TREES` trees the raw score stays below 1e7, so it can never
overflow to an infinity (whose sum with the opposite infinity would be NaN)."""

MAX_TOKEN_CHARS: int = 68
"""Longest number token: at most 30 digits before and after the point and a 4-digit
exponent (LightGBM writes at most about 25 characters)."""

MAX_TAIL_LINES: int = 2_000
"""Most lines after ``end of trees`` (feature importances and parameters; about 150)."""

NUMERICAL_DECISION_TYPES: frozenset[int] = frozenset({0, 2, 4, 6, 8, 10})
"""Decision types of numerical splits: bit 0 (categorical) clear, bit 1 default-left,
bits 2-3 the missing-value type 0 (none), 1 (zero) or 2 (NaN). Our boosters use 2, 8
and 10; categorical splits (odd types) are refused because our models have none."""

_HEADER_REQUIRED = (
    "version",
    "num_class",
    "num_tree_per_iteration",
    "label_index",
    "max_feature_idx",
    "objective",
    "feature_names",
    "feature_infos",
    "tree_sizes",
)
_HEADER_OPTIONAL = ("monotone_constraints",)
_OBJECTIVES = frozenset({"binary sigmoid:1"})
_TREE_KEYS = (
    "num_leaves",
    "num_cat",
    "split_feature",
    "split_gain",
    "threshold",
    "decision_type",
    "left_child",
    "right_child",
    "leaf_value",
    "leaf_weight",
    "leaf_count",
    "internal_value",
    "internal_weight",
    "internal_count",
    "is_linear",
    "shrinkage",
)
_INT_TOKEN = r"-?[0-9]{1,10}"
_FLOAT_TOKEN = r"[-+]?(?:[0-9]{1,30}(?:\.[0-9]{0,30})?|\.[0-9]{1,30})(?:[eE][-+]?[0-9]{1,4})?"
_INT = re.compile(_INT_TOKEN)
_FLOAT = re.compile(_FLOAT_TOKEN)
_INT_LIST = re.compile(rf"{_INT_TOKEN}(?: {_INT_TOKEN})*")
_FLOAT_LIST = re.compile(rf"{_FLOAT_TOKEN}(?: {_FLOAT_TOKEN})*")
_NAME = re.compile(r"[A-Za-z0-9_]{1,200}")
_INFO = re.compile(r"none|\[([^:\]]{1,64}):([^:\]]{1,64})\]")
_IMPORTANCE = re.compile(r"[A-Za-z0-9_]{1,200}=[0-9]{1,12}")
_PARAMETER = re.compile(r"\[[a-z0-9_]{1,64}: [A-Za-z0-9_.,:+\- ]{0,4096}\]")
_TAIL_END = frozenset({"pandas_categorical:null", "pandas_categorical:[]"})


class BoosterTextError(ValueError):
    """A booster text outside the accepted grammar; the message says where and why.

    Callers turn it into :class:`~covid_risk.exceptions.ModelIntegrityError`.
    """


@dataclass(frozen=True)
class BoosterSummary:
    """What a well-formed booster text holds.

    Parameters
    ----------
    n_trees : int
        Number of trees.
    max_leaves : int
        Most leaves in one tree.
    n_features : int
        Number of features (``max_feature_idx + 1``).
    """

    n_trees: int
    max_leaves: int
    n_features: int


def _fail(message: str) -> BoosterTextError:
    return BoosterTextError(message)


def _count(value: str, what: str, count: int | tuple[int, ...]) -> None:
    n = value.count(" ") + 1 if value else 0
    counts = count if isinstance(count, tuple) else (count,)
    if n not in counts:
        allowed = " or ".join(str(c) for c in counts)
        raise _fail(f"{what} has {n} values; {allowed} allowed")


def _ints(value: str, what: str, count: int | tuple[int, ...]) -> list[int]:
    _count(value, what, count)
    if not value:
        return []
    if not _INT_LIST.fullmatch(value):  # one regex per line; name the token only on failure
        bad = next((t for t in value.split(" ") if not _INT.fullmatch(t)), value)
        raise _fail(f"{what} holds {bad[:40]!r}, not an integer")
    return list(map(int, value.split(" ")))


def _floats(value: str, what: str, count: int | tuple[int, ...]) -> list[float]:
    _count(value, what, count)
    if not value:
        return []
    if not _FLOAT_LIST.fullmatch(value):
        bad = next((t for t in value.split(" ") if not _FLOAT.fullmatch(t)), value)
        raise _fail(f"{what} holds {bad[:40]!r}, not a finite decimal number")
    numbers = list(map(float, value.split(" ")))
    if any(map(math.isinf, numbers)):  # the grammar has no nan or inf: only overflow
        bad = value.split(" ")[list(map(math.isinf, numbers)).index(True)]
        raise _fail(f"{what} holds {bad[:40]!r}, which is not finite")
    return numbers


def _one_int(value: str, what: str, low: int, high: int) -> int:
    if not _INT.fullmatch(value):
        raise _fail(f"{what} is {value[:40]!r}, not an integer")
    number = int(value)
    if not low <= number <= high:
        raise _fail(f"{what} is {number}; allowed {low} to {high}")
    return number


def _header(lines: list[str], n_features: int, feature_names: list[str] | None) -> tuple[dict, int]:
    if not lines or lines[0] != "tree":
        raise _fail("does not start with the line 'tree' of a LightGBM text model")
    header: dict[str, str] = {}
    i = 1
    while i < len(lines) and lines[i] != "":
        key, sep, value = lines[i].partition("=")
        if not sep or key not in _HEADER_REQUIRED + _HEADER_OPTIONAL:
            raise _fail(f"has an unexpected header line {lines[i][:60]!r} (line {i + 1})")
        if key in header:
            raise _fail(f"repeats the header key {key!r} (line {i + 1})")
        header[key] = value
        i += 1
    missing = [k for k in _HEADER_REQUIRED if k not in header]
    if missing:
        raise _fail(f"lacks the header key(s) {missing}")
    fixed = {"version": "v4", "num_class": "1", "num_tree_per_iteration": "1", "label_index": "0"}
    for key, want in fixed.items():
        if header[key] != want:
            raise _fail(f"has {key}={header[key][:40]!r}; only {want!r} is allowed")
    if header["objective"] not in _OBJECTIVES:
        raise _fail(
            f"has objective={header['objective'][:60]!r}; allowed {sorted(_OBJECTIVES)}"
        )
    max_idx = _one_int(header["max_feature_idx"], "max_feature_idx", 0, 100_000)
    if max_idx != n_features - 1:
        raise _fail(f"declares {max_idx + 1} features, not the model's {n_features}")
    names = header["feature_names"].split(" ")
    if len(names) != n_features or not all(_NAME.fullmatch(n) for n in names):
        raise _fail(f"has feature_names that are not {n_features} plain names")
    if feature_names is not None and names != list(feature_names):
        raise _fail("has feature_names that differ from the model's")
    if "monotone_constraints" in header:
        signs = _ints(header["monotone_constraints"], "monotone_constraints", n_features)
        if any(s not in (-1, 0, 1) for s in signs):
            raise _fail("has monotone_constraints other than -1, 0 and 1")
    infos = header["feature_infos"].split(" ")
    if len(infos) != n_features:
        raise _fail(f"has {len(infos)} feature_infos, not {n_features}")
    for info in infos:
        match = _INFO.fullmatch(info)
        if match is None:
            raise _fail(f"has feature_infos entry {info[:40]!r}; allowed 'none' or '[lo:hi]'")
        if match.group(1) is not None:
            _floats(f"{match.group(1)} {match.group(2)}", "a feature_infos range", 2)
    return header, i + 1


def _tree(block: list[str], index: int, n_features: int) -> int:
    """Check one ``Tree=`` block (without its ``Tree=`` line); return its leaf count."""
    where = f"tree {index}"
    if len(block) != len(_TREE_KEYS):
        raise _fail(f"{where} has {len(block)} lines; a tree has {len(_TREE_KEYS)}")
    values: dict[str, str] = {}
    for key, line in zip(_TREE_KEYS, block, strict=True):
        name, sep, value = line.partition("=")
        if name != key or not sep:
            raise _fail(f"{where} has {line[:60]!r} where {key}= belongs")
        values[key] = value
    n = _one_int(values["num_leaves"], f"{where}: num_leaves", 1, MAX_LEAVES)
    if values["num_cat"] != "0":
        raise _fail(
            f"{where} has num_cat={values['num_cat'][:20]!r}; only 0 is allowed "
            "(covid_risk models have no categorical splits)"
        )
    if values["is_linear"] != "0":
        raise _fail(
            f"{where} has is_linear={values['is_linear'][:20]!r}; only 0 (no linear leaves) "
            "is allowed"
        )
    nodes = n - 1
    features = _ints(values["split_feature"], f"{where}: split_feature", nodes)
    if any(not 0 <= f < n_features for f in features):
        raise _fail(f"{where} splits on a feature outside 0 to {n_features - 1}")
    types = _ints(values["decision_type"], f"{where}: decision_type", nodes)
    bad = sorted(set(types) - NUMERICAL_DECISION_TYPES)
    if bad:
        raise _fail(
            f"{where} has decision_type {bad[0]}; allowed {sorted(NUMERICAL_DECISION_TYPES)}"
        )
    _floats(values["split_gain"], f"{where}: split_gain", nodes)
    _floats(values["threshold"], f"{where}: threshold", nodes)
    _floats(values["internal_value"], f"{where}: internal_value", nodes)
    _floats(values["internal_weight"], f"{where}: internal_weight", (nodes, 0))
    counts = _ints(values["internal_count"], f"{where}: internal_count", (nodes, 0))
    counts += _ints(values["leaf_count"], f"{where}: leaf_count", (n, 0))
    if any(c < 0 for c in counts):
        raise _fail(f"{where} has a negative count")
    _floats(values["leaf_weight"], f"{where}: leaf_weight", (n, 0))
    leaves = _floats(values["leaf_value"], f"{where}: leaf_value", n)
    if any(abs(v) > MAX_ABS_LEAF_VALUE for v in leaves):
        raise _fail(f"{where} has a leaf value beyond +-{MAX_ABS_LEAF_VALUE:g}")
    shrinkage = _floats(values["shrinkage"], f"{where}: shrinkage", 1)[0]
    if not 0.0 <= shrinkage <= 1.0:
        raise _fail(f"{where} has shrinkage {shrinkage!r}; allowed 0 to 1")
    left = _ints(values["left_child"], f"{where}: left_child", nodes)
    right = _ints(values["right_child"], f"{where}: right_child", nodes)
    _check_topology(left, right, n, where)
    return n


def _check_topology(left: list[int], right: list[int], n: int, where: str) -> None:
    """Every node reached exactly once from the root: a tree, no cycle, no orphan."""
    nodes = n - 1
    seen_node = [False] * max(nodes, 1)
    seen_leaf = [False] * n
    if nodes == 0:
        return
    seen_node[0] = True
    stack = [0]
    while stack:
        node = stack.pop()
        for child in (left[node], right[node]):
            if child >= 0:
                if child >= nodes:
                    raise _fail(
                        f"{where}: node {node} has child {child}; nodes are 0 to {nodes - 1}"
                    )
                if seen_node[child]:
                    raise _fail(f"{where}: node {child} is reached twice (a cycle or shared node)")
                seen_node[child] = True
                stack.append(child)
            else:
                leaf = ~child
                if leaf >= n:
                    raise _fail(f"{where}: node {node} has leaf {leaf}; leaves are 0 to {n - 1}")
                if seen_leaf[leaf]:
                    raise _fail(f"{where}: leaf {leaf} is reached twice")
                seen_leaf[leaf] = True
    if not all(seen_node) or not all(seen_leaf):
        raise _fail(f"{where} has nodes or leaves that the root does not reach")


def _tail(lines: list[str]) -> None:
    if len(lines) > MAX_TAIL_LINES:
        raise _fail(f"has {len(lines)} lines after its trees; at most {MAX_TAIL_LINES} allowed")
    i = 0

    def expect(text: str) -> None:
        nonlocal i
        if i >= len(lines) or lines[i] != text:
            got = lines[i][:60] if i < len(lines) else "the end"
            raise _fail(f"has {got!r} where {text!r} belongs after its trees")
        i += 1

    expect("")
    expect("feature_importances:")
    while i < len(lines) and _IMPORTANCE.fullmatch(lines[i]):
        i += 1
    expect("")
    expect("parameters:")
    while i < len(lines) and _PARAMETER.fullmatch(lines[i]):
        i += 1
    expect("")
    expect("end of parameters")
    expect("")
    if lines[i:] not in ([end, ""] for end in _TAIL_END):
        got = lines[i][:60] if i < len(lines) else "the end"
        raise _fail(f"ends with {got!r}; the last line must be 'pandas_categorical:null'")


def parse_booster_text(
    text: str, n_features: int, feature_names: list[str] | None = None
) -> BoosterSummary:
    """Prove a LightGBM text model well-formed (see the module docstring) or raise.

    Parameters
    ----------
    text : str
        The booster text, as :meth:`lightgbm.Booster.model_to_string` writes it.
    n_features : int
        The model's number of features.
    feature_names : list of str, optional
        The model's feature names; when given, the text must name the same.

    Returns
    -------
    BoosterSummary
        Counts of trees, leaves and features.

    Raises
    ------
    BoosterTextError
        Naming the first part outside the grammar, its value and what is allowed.
    """
    size = len(text.encode("utf-8")) if not text.isascii() else len(text)
    if size > MAX_BOOSTER_BYTES:
        raise _fail(f"is {size} bytes; at most {MAX_BOOSTER_BYTES} are allowed")
    if not text.isascii():
        raise _fail("holds non-ASCII characters; LightGBM writes ASCII only")
    if "\r" in text or "\x00" in text:
        raise _fail("holds carriage-return or NUL characters")
    lines = text.split("\n")
    header, start = _header(lines, n_features, feature_names)
    n_sizes = header["tree_sizes"].count(" ") + 1
    if n_sizes > MAX_TREES:
        raise _fail(f"has {n_sizes} trees; at most {MAX_TREES} are allowed")
    sizes = _ints(header["tree_sizes"], "tree_sizes", n_sizes)
    if any(s <= 0 for s in sizes):
        raise _fail("has a tree size that is not positive")
    # each tree block is 'Tree=i', its 16 key lines and two blank lines
    block_lines = 3 + len(_TREE_KEYS)
    i = start
    max_leaves = 0
    for index, size in enumerate(sizes):
        block = lines[i : i + block_lines]
        if len(block) != block_lines or block[0] != f"Tree={index}" or block[-2:] != ["", ""]:
            raise _fail(f"has no well-formed block for tree {index} of {len(sizes)} (line {i + 1})")
        max_leaves = max(max_leaves, _tree(block[1:-2], index, n_features))
        if sum(len(line) + 1 for line in block) != size:
            raise _fail(f"has a tree {index} whose size differs from its tree_sizes entry {size}")
        i += block_lines
    if i >= len(lines) or lines[i] != "end of trees":
        got = lines[i][:60] if i < len(lines) else "the end"
        raise _fail(f"has {got!r} where 'end of trees' belongs after {len(sizes)} trees")
    _tail(lines[i + 1 :])
    return BoosterSummary(n_trees=len(sizes), max_leaves=max_leaves, n_features=n_features)
