"""The summaries' templates are compiled once per process and shared by every environment
(kpis/summary/render.CompiledTemplates), and a template changed on disk is compiled again."""
from __future__ import annotations

from jinja2 import Environment, FileSystemLoader

from kpis.summary import render
from kpis.summary.render import CompiledTemplates


def counting_environment(folder, cache, compiled: list[str], **globals_) -> Environment:
    env = Environment(loader=FileSystemLoader(str(folder)), bytecode_cache=cache)
    compile_ = env.compile

    def counted(source, name=None, filename=None, *args, **kwargs):
        compiled.append(source)
        return compile_(source, name, filename, *args, **kwargs)

    env.compile = counted
    env.globals.update(globals_)
    return env


def test_a_template_compiled_for_one_environment_renders_in_another_with_its_own_globals(tmp_path):
    (tmp_path / "page.j2").write_text("{{ L.hello }}, {{ name | upper }}", encoding="utf-8")
    cache, compiled = CompiledTemplates(), []
    thai = counting_environment(tmp_path, cache, compiled, L={"hello": "สวัสดี"})
    english = counting_environment(tmp_path, cache, compiled, L={"hello": "Hello"})

    assert thai.get_template("page.j2").render(name="ก") == "สวัสดี, ก"
    assert english.get_template("page.j2").render(name="opdc") == "Hello, OPDC"
    assert compiled == ["{{ L.hello }}, {{ name | upper }}"]  # once, for both


def test_a_template_changed_on_disk_is_compiled_again(tmp_path):
    page = tmp_path / "page.j2"
    page.write_text("before {{ n }}", encoding="utf-8")
    cache, compiled = CompiledTemplates(), []
    assert counting_environment(tmp_path, cache, compiled).get_template("page.j2").render(n=1) == "before 1"
    page.write_text("after {{ n }}", encoding="utf-8")
    assert counting_environment(tmp_path, cache, compiled).get_template("page.j2").render(n=2) == "after 2"
    assert compiled == ["before {{ n }}", "after {{ n }}"]
    assert counting_environment(tmp_path, cache, compiled).get_template("page.j2").render(n=3) == "after 3"
    assert len(compiled) == 2


def test_the_forkservers_compile_leaves_nothing_for_a_night_to_compile(monkeypatch):
    """compile_templates (flows/warm_preload.py) compiles every summary template but the validation
    report's, which has its own environment; then no edition's environment compiles any."""
    monkeypatch.setattr(render, "COMPILED", CompiledTemplates())
    monkeypatch.setattr(render, "_ENVIRONMENTS", {})
    assert render.compile_templates() == 20  # 22 templates less validation.html.j2 and its part
    compiled: list[str] = []
    for lang in ("th", "en"):
        for html in (True, False):
            env = render._new_environment(lang, html, {1: {"th": "ยุทธศาสตร์ที่ 1", "en": "Strategy 1"}})
            monkeypatch.setattr(env, "compile", lambda source, *a, **k: compiled.append(source))
            env.get_template("summary.html.j2" if html else "summary.md.j2")
            env.get_template("_pilot.html.j2" if html else "_pilot.md.j2")
    assert compiled == []


def test_the_forkservers_compile_of_the_letters_leaves_nothing_for_a_night_to_compile(monkeypatch):
    """The letters' templates (kpis/letters/render.compile_templates, flows/warm_preload.py): both
    languages' letters and the style they include, compiled once; a night's letters compile none."""
    from kpis.letters import render as letters

    letters._environment.cache_clear()
    try:
        assert letters.compile_templates() == 3  # letter.th, letter.en and _style.css
        env = letters._environment()
        compiled: list[str] = []
        monkeypatch.setattr(env, "compile", lambda source, *a, **k: compiled.append(source))
        for lang in ("th", "en"):
            env.get_template(f"letter.{lang}.html.j2")
            env.get_template("_style.css.j2")
        assert compiled == []
    finally:
        letters._environment.cache_clear()  # the other tests' environment, not this one's patched compile
