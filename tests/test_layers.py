"""The package's layers (docs/design.md, Import directions), read from the source with `ast`.

Every `import` counts, at module level or inside a function: a lazy import still ties
a lower layer to a higher one. A module may import its own package and the layers
below its own; no two modules may import each other, directly or around a circle."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "drarl_tf"

# Lowest first. Packages on one line are one layer and never import each other.
LAYERS = [
    ["drarl_tf", "drarl_tf.errors"],
    ["drarl_tf.cluster", "drarl_tf.names", "drarl_tf.tf_settings"],
    ["drarl_tf.envs", "drarl_tf.networks", "drarl_tf.losses"],
    ["drarl_tf.configs"],
    ["drarl_tf.bookkeeping"],
    ["drarl_tf.training"],
    ["drarl_tf.viz"],
    ["drarl_tf.impala", "drarl_tf.a2c", "drarl_tf.ppo", "drarl_tf.cli"],
    ["drarl_tf.experiments"],
    ["drarl_tf.scripts"],
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[0] == "scripts":
        parts[0] = "drarl_tf.scripts"
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def sources() -> dict[str, Path]:
    files = [*PACKAGE.rglob("*.py"), *(ROOT / "scripts").glob("*.py")]
    return {module_name(p): p for p in files}


def imports_of(path: Path, name: str, known: set[str]) -> set[str]:
    """The package's modules that `path` (module `name`) imports, anywhere in it."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base
                       for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:  # `drarl_tf.envs.make_env` -> `drarl_tf.envs`
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def layer_of(module: str) -> tuple[int, str]:
    """(layer index, the layer's package holding `module`)."""
    best = None
    for index, packages in enumerate(LAYERS):
        for package in packages:
            inside = module == package or (package != "drarl_tf"
                                           and module.startswith(package + "."))
            if inside and (best is None or len(package) > len(best[1])):
                best = (index, package)
    assert best is not None, f"{module} is in no layer: add it to LAYERS and docs/design.md"
    return best


def graph() -> dict[str, set[str]]:
    found = sources()
    known = set(found)
    return {name: imports_of(path, name, known) for name, path in found.items()}


def upward_imports(edges: dict[str, set[str]]) -> list[str]:
    bad = []
    for module, targets in edges.items():
        level, package = layer_of(module)
        for target in targets:
            target_level, target_package = layer_of(target)
            if target_level > level or (target_level == level and target_package != package
                                        and target_package != "drarl_tf"):
                bad.append(f"{module} -> {target}")
    return sorted(bad)


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every import circle (strongly connected group of modules), by Tarjan's algorithm."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in edges.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def _package_inits_excluded(edges):
    # A package's __init__ re-exports its own modules; the modules never import it back
    # for anything but those names, which is no circle in practice, so the re-export
    # edges are left out of the circle search.
    return {m: {t for t in ts if not (m in t and t.startswith(m + "."))} for m, ts in edges.items()}


def test_no_module_imports_a_higher_layer():
    assert upward_imports(graph()) == []


def test_no_import_circles():
    assert circles(_package_inits_excluded(graph())) == []


def test_the_checks_see_an_upward_import_and_a_circle():
    edges = {"drarl_tf.bookkeeping.session": {"drarl_tf.viz.summaries"},
             "drarl_tf.viz.summaries": set(),
             "drarl_tf.envs.atari": {"drarl_tf.envs.registry"},
             "drarl_tf.envs.registry": {"drarl_tf.envs.atari"},
             "drarl_tf.impala.driver": {"drarl_tf.ppo"}, "drarl_tf.ppo": set()}
    assert upward_imports(edges) == ["drarl_tf.bookkeeping.session -> drarl_tf.viz.summaries",
                                     "drarl_tf.impala.driver -> drarl_tf.ppo"]
    assert circles(edges) == [["drarl_tf.envs.atari", "drarl_tf.envs.registry"]]


def test_relative_and_lazy_imports_are_read(tmp_path):
    path = tmp_path / "m.py"
    path.write_text("def f():\n    from drarl_tf.viz import summaries\n"
                    "from .base import VecEnv\n")
    known = {"drarl_tf.viz", "drarl_tf.viz.summaries", "drarl_tf.envs", "drarl_tf.envs.base"}
    assert imports_of(path, "drarl_tf.envs.m", known) == {"drarl_tf.viz.summaries",
                                                           "drarl_tf.envs.base"}


@pytest.mark.parametrize("precision", ["auto", "float32"])
def test_configs_never_load_tensorflow(precision):
    code = ("import sys\nfrom drarl_tf import configs\n"
            f"for cls in (configs.ImpalaConfig, configs.A2CConfig, configs.PPOConfig):\n"
            f"    cls(game='Catch', precision='{precision}')\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('tensorflow', 'keras', 'tensorflow_probability', 'sonnet')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True).stdout
    assert out.strip() == "[]"
