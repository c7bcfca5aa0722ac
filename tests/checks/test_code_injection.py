"""code-injection against real interpreters (Python's eval, Node's eval when node is installed), a
PHP stand-in, blind evaluators found by time, and the traps: echo, an arithmetic-only calculator, a
validated value, an endpoint slow at random."""

from __future__ import annotations

import ast
import functools
import html
import operator
import random
import re
import shutil
import subprocess
from collections.abc import Callable

import pytest

from lunge.checks.base import Attack, Confidence
from lunge.checks.code_injection import CHECKS, CODE_INJECTION, TABLE
from lunge.checks.testing import context, drive
from lunge.http import Headers, Request, Response, parse

URL = "http://t.test/price?label=alice"
POINT = "GET_label_value"


def html_response(body: str, status: int = 200) -> Response:
    return Response(status, headers=Headers([("Content-Type", "text/html")]), body=body.encode())


def value_of(request: Request) -> str:
    point = next((p for p in parse(request) if p.family == "GET"), None)
    return point.value if point else ""


class Sleeper:
    """A ``time`` module whose sleep only adds to the response's latency (tests stay fast)."""

    def __init__(self) -> None:
        self.slept = 0.0

    def sleep(self, seconds: float) -> None:
        self.slept += seconds


def python_app(code: Callable[[str], str], *, blind: bool = False, errors: bool = True):
    """``eval(code(value))`` with a small set of builtins; shows the result unless ``blind``."""
    def respond(request: Request) -> tuple[Response, float]:
        sleeper = Sleeper()
        builtins = {"str": str, "__import__": lambda name, *a, **k: sleeper if name == "time" else None}
        try:
            result = str(eval(code(value_of(request)), {"__builtins__": builtins}))  # noqa: S307 - the app under test
        except Exception as exc:  # the interpreter's error, shown like a debug page
            shown = f"Traceback (most recent call last):\n{type(exc).__name__}: {exc}" if errors else "error"
            return html_response(f"<pre>{html.escape(shown)}</pre>", 500), 0.01
        page = "<p>Saved.</p>" if blind else f"<p>{html.escape(result)}</p>"
        return html_response(page), 0.01 + random.random() * 0.003 + sleeper.slept

    return respond


def node_app(code: Callable[[str], str]):
    @functools.cache  # replays repeat one value: one node process per distinct program
    def evaluate(program: str) -> str:
        return subprocess.run(["node", "-e", "try { console.log(String(eval(process.argv[1]))) } "
                               "catch (e) { console.log(String(e)) }", program],
                              capture_output=True, text=True, timeout=20, check=False).stdout

    def respond(request: Request) -> Response:
        return html_response(f"<p>{html.escape(evaluate(code(value_of(request))))}</p>")

    return respond


def php_like(request: Request) -> Response:
    """PHP's eval('return ' . $label . ';') as far as the probes need it: concatenation of literals
    and products with the . operator; anything else is a parse error."""
    code = value_of(request)
    parts = re.fullmatch(r"'(\w*)'\.\((\d+)\*(\d+)\)\.'(\w*)'", code)
    if not parts:
        return html_response("<b>Parse error</b>: syntax error, unexpected token in eval()'d code", 500)
    return html_response(f"<p>{parts[1]}{int(parts[2]) * int(parts[3])}{parts[4]}</p>")


def run(responder, *, url: str = URL, point: str = POINT, light: bool = False):
    sent: list[Attack] = []
    ctx = context(Request.from_url(url), point, responder, seed=4, light=light, time_delay=1.0)
    return drive(CODE_INJECTION, ctx, responder, sent=sent), sent


VULNERABLE = {
    "python expression": (python_app(lambda v: v), "python-ruby-expression"),
    "python single-quoted": (python_app(lambda v: f"'Hello {v}'"), "python-ruby-quoted"),
    "python double-quoted": (python_app(lambda v: f'"Hello {v}".upper()'), "python-ruby-quoted"),
    "php expression": (php_like, "php-expression"),
}


@pytest.mark.parametrize("name", sorted(VULNERABLE))
def test_output_based_is_found_and_confirmed(name: str) -> None:
    responder, form = VULNERABLE[name]
    verdicts, _ = run(responder)
    assert len(verdicts) == 1, name
    verdict = verdicts[0]
    assert (verdict.check_id, verdict.cwe, verdict.confidence) == ("code-injection", 94, Confidence.FIRM)
    assert verdict.details["technique"] == "output" and verdict.details["form"] == form
    a, b = verdict.details["operands"]
    assert str(a * b) in verdict.proof and str(a * b) not in verdict.payload
    assert any(x.attack.label == "confirm" for x in verdict.controls)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
@pytest.mark.parametrize(("code", "form"), [(lambda v: v, "javascript-expression"),
                                            (lambda v: f"'Hello {v}'", "javascript-quoted"),
                                            (lambda v: f'"Hello {v}"', "javascript-quoted")])
def test_node_eval_is_found(code: Callable[[str], str], form: str) -> None:
    verdicts, _ = run(node_app(code))
    assert len(verdicts) == 1 and verdicts[0].details["form"] == form
    assert verdicts[0].details["languages"] == ["javascript"]


def test_blind_eval_named_like_code_is_found_by_time() -> None:
    verdicts, sent = run(python_app(lambda v: v, blind=True, errors=False),
                         url="http://t.test/hook?formula=1%2B1", point="GET_formula_value")
    assert len(verdicts) == 1
    verdict = verdicts[0]
    assert verdict.details["technique"] == "time" and verdict.details["form"] == "python-sleep"
    assert verdict.details["decision"] == "confirmed"
    assert all(a.timing for a in sent if a.label.startswith("time-") and ":delay-" in a.label)
    assert any(":screen-" in a.label and not a.timing for a in sent)


def test_blind_eval_showing_its_errors_is_found_by_time_whatever_its_name() -> None:
    verdicts, sent = run(python_app(lambda v: f"'{v}' and 1", blind=True))
    assert len(verdicts) == 1 and verdicts[0].details["form"] == "python-sleep-quoted"
    assert verdicts[0].details["error_languages"] == ["python"]
    assert not any("php" in a.label or "javascript" in a.label for a in sent if a.label.startswith("time-"))


_OPERATORS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}


def calculator(expression: str) -> float:
    """A safe arithmetic evaluator: numbers and + - * / only."""
    def walk(node: ast.AST) -> float:
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
            return _OPERATORS[type(node.op)](walk(node.left), walk(node.right))
        raise ValueError("not arithmetic")
    return walk(ast.parse(expression, mode="eval").body)


def safe_calculator(request: Request) -> Response:
    try:
        return html_response(f"<p>{calculator(value_of(request))}</p>")
    except (ValueError, SyntaxError, ZeroDivisionError):
        return html_response("<p>Invalid expression.</p>", 400)


def slow_at_random(seed: int) -> Callable[[Request], tuple[Response, float]]:
    jitter = random.Random(seed)
    return lambda request: (html_response("<p>Saved.</p>"), jitter.random() * 1.5)


TRAPS = {
    "echo": lambda r: html_response(f"<p>{value_of(r)}</p>"),
    "escaped echo": lambda r: html_response(f"<p>{html.escape(value_of(r))}</p>"),
    "safe calculator": safe_calculator,
    "regex calculator": lambda r: html_response(re.sub(r"(\d+)\*(\d+)", lambda m: str(int(m[1]) * int(m[2])),
                                                       value_of(r))),
}


@pytest.mark.parametrize("name", sorted(TRAPS))
def test_traps_stay_silent(name: str) -> None:
    verdicts, sent = run(TRAPS[name])
    assert verdicts == []
    assert len(sent) == len(TABLE.output)  # 6 requests: no time forms without a reason


@pytest.mark.parametrize("seed", range(6))
def test_an_endpoint_slow_at_random_stays_silent(seed: int) -> None:
    responder = slow_at_random(seed)
    verdicts, sent = run(responder, url="http://t.test/hook?formula=1", point="GET_formula_value")
    assert verdicts == []
    assert any(a.label.startswith("time-") for a in sent)  # the time forms did run


def test_budget_on_a_point_that_is_not_vulnerable() -> None:
    _, full = run(TRAPS["echo"])
    _, light = run(TRAPS["echo"], light=True)
    _, named = run(TRAPS["echo"], url="http://t.test/x?expr=1", point="GET_expr_value")
    bare = [f for f in TABLE.time if not f.hinted]
    assert (len(full), len(light), len(named)) == (6, 1, 6 + len(bare))


def test_check_metadata() -> None:
    assert CHECKS == (CODE_INJECTION,)
    assert (CODE_INJECTION.id, CODE_INJECTION.kind, CODE_INJECTION.cwe) == ("code-injection", "rce", 94)
