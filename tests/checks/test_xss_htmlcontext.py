"""The parsing behind the XSS oracle: reflection contexts, executable positions, the JS lexer."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lunge.checks import htmlcontext, jscontext
from lunge.checks.htmlcontext import Context

M = "zq81kd0a"


@pytest.mark.parametrize(("doc", "context", "quote", "script"), [
    (f"<p>hi {M}</p>", Context.TEXT, "", ""),
    (f'<input value="{M}">', Context.ATTRIBUTE, '"', ""),
    (f"<input value='{M}'>", Context.ATTRIBUTE, "'", ""),
    (f"<input value={M}>", Context.ATTRIBUTE, "", ""),
    (f'<a href="{M}">', Context.URL, '"', ""),
    (f'<a href="javascript:go(\'{M}\')">', Context.URL, '"', "'"),
    (f'<b onclick="go(&quot;{M}&quot;)">', Context.EVENT_HANDLER, '"', '"'),
    (f"<script>var a = `x ${{y}} {M}`;</script>", Context.SCRIPT, "", "`"),
    (f"<script>f({M});</script>", Context.SCRIPT, "", "code"),
    (f"<script>// {M}\n</script>", Context.SCRIPT, "", "comment"),
    (f'<script type="application/ld+json">{{"a": "{M}"}}</script>', Context.INERT_SCRIPT, "", ""),
    (f'<script type="text/javascript" type="application/json">"{M}"</script>', Context.SCRIPT, "", '"'),
    (f"<textarea>{M}</textarea>", Context.RAW_TEXT, "", ""),
    (f"<noscript><b>{M}</b></noscript>", Context.RAW_TEXT, "", ""),
    (f"<style>p {{ color: {M} }}</style>", Context.RAW_TEXT, "", ""),
    (f"<!-- {M} -->", Context.COMMENT, "", ""),
    (f'<iframe srcdoc="&lt;p&gt;{M}"></iframe>', Context.SRCDOC, '"', ""),
    (f"<div {M}=1>", Context.ATTRIBUTE_NAME, "", ""),
])
def test_reflection_context(doc: str, context: Context, quote: str, script: str) -> None:
    (found,) = htmlcontext.reflections(doc, M)
    assert (found.context, found.quote, found.script) == (context, quote, script)


def test_reflection_in_template_is_inert_and_matching_ignores_case() -> None:
    (found,) = htmlcontext.reflections(f"<template><p>{M.upper()}</p></template>", M)
    assert found.context is Context.TEXT and found.inert


@pytest.mark.parametrize("doc", [
    f"<p><lunge-{M} onmouseover={M}()></p>",
    f"<p title=x onmouseover='{M}()'>",
    f'<a href="  JaVa&#x09;script:{M}()">x</a>',
    f'<form action="javascript:{M}%28%29">',
    f"<script>var q = ''-{M}()-'';</script>",
    f"<script type=module>{M}()</script>",
    f'<iframe srcdoc="&lt;img src=x onerror={M}()&gt;"></iframe>',
    f"<LUNGE-{M.upper()} ONMOUSEOVER={M.upper()}()>",
])
def test_executable_positions(doc: str) -> None:
    assert htmlcontext.executions(doc, M)


@pytest.mark.parametrize("doc", [
    f"<p>&lt;lunge-{M} onmouseover={M}()&gt;</p>",  # the HTML-encoded echo
    f"<textarea><lunge-{M} onmouseover={M}()></textarea>",
    f"<title><lunge-{M} onmouseover={M}()></title>",
    f"<!-- <lunge-{M} onmouseover={M}()> -->",
    f'<script type="application/json">{{"q": "<b onclick={M}()>"}}</script>',
    f"<template><b onclick={M}()></b></template>",
    f'<img src="javascript:{M}()">',
    f"<script>var q = '\\'-{M}()-\\'';</script>",  # backslash-escaped quote: still inside the string
    f"<script src=/app.js>{M}()</script>",  # inline text of an external script never runs
    f"<script>var s = '{M}()';</script>",
    f"<b title='{M}()'>",
    f"<b onclick=\"x.{M}()\">",  # a method of another object, not our function
    f"<b onclick=\"a()\" onclick=\"{M}()\">",  # duplicate attribute: the browser keeps the first
])
def test_non_executable_positions(doc: str) -> None:
    assert htmlcontext.executions(doc, M) == []


def test_unclosed_script_at_the_end_of_the_page_is_still_read() -> None:
    assert htmlcontext.executions(f"<p>x</p><script>var a = 1; {M}()", M)


def test_scan_attributes_keeps_quotes_and_decodes_values() -> None:
    attrs = htmlcontext.scan_attributes("<input type=text value='a&amp;b' disabled data-x = \"1 2\" />")
    assert [(a.name, a.value, a.quote) for a in attrs] == [
        ("type", "text", ""), ("value", "a&b", "'"), ("disabled", "", ""), ("data-x", "1 2", '"')]


@pytest.mark.parametrize(("code", "index", "expected"), [
    ("a = 'x' + b", 5, ("string", "'")),
    ("a = x / 2 / y; b = 'q'", 19, ("string", "'")),
    ("a = /'[x]/.test(s); c = 1", 24, ("code", "")),
    ("/* 'x */ y", 9, ("code", "")),
    ("`a ${ {b: 'c'}.b } d`", 19, ("template", "`")),
    ("<!-- 'x\ny", 8, ("code", "")),
])
def test_javascript_positions(code: str, index: int, expected: tuple[str, str]) -> None:
    assert jscontext.context_at(code, index) == expected


@given(st.text(max_size=200))
def test_lexer_never_fails_and_covers_input_in_order(code: str) -> None:
    tokens = jscontext.tokenize(code)
    ends = [0]
    for token in tokens:
        assert token.start >= ends[-1] and token.end > token.start and token.end <= len(code)
        ends.append(token.end)


@given(st.text(max_size=300))
def test_html_parsing_never_fails(doc: str) -> None:
    htmlcontext.reflections(doc, "a")
    htmlcontext.executions(doc, "a")
