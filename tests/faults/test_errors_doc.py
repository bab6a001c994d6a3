"""Every message listed in docs/errors.md still exists in the code (as a string literal of zs)."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDER = re.compile(r"<[^<>]*>")


def doc_messages() -> list[str]:
    """The lines of the ```text blocks of docs/errors.md, 'error: ' removed."""
    text = (ROOT / "docs" / "errors.md").read_text()
    lines = [ln for block in re.findall(r"```text\n(.*?)```", text, re.S) for ln in block.splitlines()]
    return [ln.removeprefix("error: ").strip() for ln in lines if ln.strip()]


def code_strings() -> list[str]:
    """Every string literal of zs (adjacent literals merged, each f-string field as '{}')."""
    out = []
    for path in (ROOT / "zs").rglob("*.py"):
        nodes = list(ast.walk(ast.parse(path.read_text())))
        inner = {id(v) for n in nodes if isinstance(n, ast.JoinedStr) for v in n.values}  # pieces of f-strings
        for node in nodes:
            if isinstance(node, ast.JoinedStr):
                out.append("".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values))
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in inner:
                out.append(node.value)
    return out


def code_patterns() -> list[tuple[re.Pattern, bool]]:
    """(regex, whole) per zs string, each field matching any text: strings with 20+ literal characters
    may match part of a message (they are nested in others); shorter ones (8+) must match all of it."""
    out = []
    for s in set(code_strings()):
        parts = s.split("{}")
        literal = sum(len(p.strip()) for p in parts)
        if literal >= 8:
            out.append((re.compile(".*?".join(re.escape(p) for p in parts), re.S), literal < 20))
    return out


def undocumented(messages: list[str], patterns) -> list[str]:
    """Messages that no zs string produces (a placeholder <...> of the docs may stand for any value)."""
    def found(m):
        m = PLACEHOLDER.sub("VALUE", m)
        return any(p.fullmatch(m) if whole else p.search(m) for p, whole in patterns)

    return [m for m in messages if not found(m)]


def test_every_documented_message_exists_in_code():
    messages = doc_messages()
    assert len(messages) >= 25
    # click writes the option-value messages; zs.cli only puts them on one line
    ours = [m for m in messages if not m.startswith("Invalid value for")]
    missing = undocumented(ours, code_patterns())
    assert not missing, "messages in docs/errors.md that no zs string produces:\n" + "\n".join(missing)


def test_the_check_can_fail():
    patterns = code_patterns()
    assert undocumented(["store <S>: text embeddings '<name>' are purple", "no such <x> message in zs"],
                        patterns) == ["store <S>: text embeddings '<name>' are purple", "no such <x> message in zs"]
