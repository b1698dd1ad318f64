"""firmware/generated/ec_limits.h is generated from protocol/limits.py and is the C core's
only copy of those limits."""

from __future__ import annotations

import re
import types
from pathlib import Path

from edgecascade.protocol import limits
from edgecascade.protocol.topics import DEFAULT_PREFIX
from edgecascade.tools.models import limits_header
from edgecascade.tools.models.paths import LIMITS_H

CORE = Path(__file__).resolve().parents[2] / "firmware" / "core"


def test_limits_header_is_fresh() -> None:
    assert LIMITS_H.read_text() == limits_header.render_current(), \
        "ec_limits.h is stale: run `edgecascade models export-c`"


def test_every_integer_limit_is_in_the_header() -> None:
    text = LIMITS_H.read_text()
    defined = dict(re.findall(r"^#define (EC_\w+) (\d+)u$", text, re.M))
    want = {f"EC_{k}": str(v) for k, v in vars(limits).items()
            if k.isupper() and isinstance(v, int) and not isinstance(v, bool)}
    assert defined == want
    assert f'#define EC_TOPIC_PREFIX_DEFAULT "{DEFAULT_PREFIX}"' in text


def test_core_keeps_no_hand_copy_of_a_generated_name() -> None:
    generated = set(re.findall(r"^#define (EC_\w+)", LIMITS_H.read_text(), re.M))
    copies = {f"{p.name}: {name}" for p in sorted(CORE.glob("*.[ch]"))
              for name in re.findall(r"^\s*#\s*define (EC_\w+)", p.read_text(), re.M)
              if name in generated}
    assert not copies, copies


def test_render_takes_comments_and_skips_non_integers() -> None:
    source = ('#: Largest thing.\nMAX_THING = 5 * 2\nPATTERN = "x"\n'
              "#: Not a limit.\nFLAG = True\nMAX_OTHER = 3\n")
    module = types.SimpleNamespace(MAX_THING=10, PATTERN="x", FLAG=True, MAX_OTHER=3)
    assert limits_header.c_defines(source, module) == [
        "/* Largest thing. */", "#define EC_MAX_THING 10u", "#define EC_MAX_OTHER 3u"]
    assert "sha256 " in limits_header.render(source, module, "ab/v2")
    assert '#define EC_TOPIC_PREFIX_DEFAULT "ab/v2"' in limits_header.render(
        source, module, "ab/v2")


def test_prefix_copies_that_cannot_include_the_header_agree() -> None:
    """Kconfig (menuconfig) and the app-check defines cannot include ec_limits.h."""
    firmware = CORE.parent
    kconfig = (firmware / "esp32" / "main" / "Kconfig.projbuild").read_text()
    m = re.search(r'config EC_TOPIC_PREFIX\n(?:.*\n)*?\s+default "([^"]*)"', kconfig)
    assert m and m.group(1) == DEFAULT_PREFIX
    make = re.search(r"-DCONFIG_EC_TOPIC_PREFIX='\"([^\"]*)\"'",
                     (firmware / "Makefile").read_text())
    assert make and make.group(1) == DEFAULT_PREFIX
