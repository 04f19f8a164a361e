"""The generated benchmark page escapes free text such as error messages."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks import docs  # noqa: E402
from benchmarks.results import Result  # noqa: E402

ERROR_TEXT = "first error: ERR unknown command `FOO`, with args beginning with: `x"


def test_escape_inline_markup() -> None:
    assert docs.escape(r"a*b `c` d_ e|f \g") == r"a\*b \`c\` d\_ e\|f \\g"


def test_render_escapes_details() -> None:
    result = Result(
        "S9", "16 threads", "ops/s", {}, None, "limit",
        details={"glide": ERROR_TEXT},
    )

    page = docs.render([result], [], {"CPU model": "x_y"}, "")

    assert r"unknown command \`FOO\`, with args beginning with: \`x" in page
    assert ":CPU model: x\\_y" in page
