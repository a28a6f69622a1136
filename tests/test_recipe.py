"""Recipes are data checked against the generic keys and their family's own: every
mistake is one line naming the file, the line and the key."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from bootstrap import recipe as recipes
from bootstrap.errors import Die
from bootstrap.families import load_recipe

GOOD = """\
name: mini
family: deb
mirrors: [http://deb.example/debian]
components: [main, contrib]
default_release: one
releases:
  one:
    version: 12
    merged_usr: true
    sources: {suites: [one, one-updates], security: one-security}
architectures: {amd64: x86_64}
default_variant: base
variants:
  base: {essential: true, priorities: [required], packages: [apt]}
  plain: {alias: base}
"""


def _load(tmp_path: Path, text: str):
    path = tmp_path / "r.yaml"
    path.write_text(textwrap.dedent(text))
    return load_recipe(str(path))


def test_every_shipped_recipe_loads_with_its_family():
    for name in recipes.names():
        recipe, family = load_recipe(name)
        assert recipe.name == name and family.__module__.endswith(f"{recipe.family}.family")
        assert recipe.default_release in recipe.releases
        assert recipe.keyrings and all(k.exists() for k in recipe.keyrings), name


def test_generic_and_family_keys_land_in_their_places(tmp_path: Path):
    recipe, family = _load(tmp_path, GOOD)
    assert family.__name__ == "DebFamily"
    assert recipe.config.components == ("main", "contrib")
    release = recipe.release("one")
    assert release.config.version == "12" and release.config.merged_usr
    assert release.config.sources.suites == ("one", "one-updates")
    assert recipe.variant("plain").config.priorities == ("required",)
    assert recipe.variant("custom").packages == ()
    assert recipe.hostname == "mini"


@pytest.mark.parametrize("change, where, words", [
    (("components:", "compnents:"), 4, "did you mean 'components'"),
    (("    merged_usr: true", "    merged-usr: true"), 9, "unknown key 'merged-usr' in "
                                                          "releases.one"),
    (("{essential: true,", "{esential: true,"), 14, "unknown key 'esential' in variants.base"),
    (("{suites: [one, one-updates],", "{suits: [one],"), 10,
     "unknown key 'suits' in releases.one.sources"),
    (("merged_usr: true", "merged_usr: yes please"), 9,
     "'releases.one.merged_usr' must be true or false"),
    (("version: 12", "version: 3.20"), 8, "quote it"),
    (("components: [main, contrib]", "components: main"), 4, "'components' must be a list"),
    (("default_release: one", "default_release: two"), 5, "default_release 'two' is not"),
    (("plain: {alias: base}", "plain: {alias: nope}"), 15,
     "variant 'plain' is an alias of unknown 'nope'"),
])
def test_mistakes_name_file_line_and_key(tmp_path: Path, change, where, words):
    with pytest.raises(Die) as e:
        _load(tmp_path, GOOD.replace(*change))
    assert e.value.message.startswith(f"{tmp_path / 'r.yaml'} line {where}: "), e.value.message
    assert words in e.value.message


def test_missing_and_broken_files(tmp_path: Path):
    with pytest.raises(Die, match="'mirrors' is missing"):
        _load(tmp_path, GOOD.replace("mirrors: [http://deb.example/debian]\n", ""))
    with pytest.raises(Die, match="is not valid YAML"):
        _load(tmp_path, "name: [unclosed\n")
    with pytest.raises(Die, match="is not a mapping"):
        _load(tmp_path, "- a list\n")
    with pytest.raises(Die, match="unknown distribution 'nosuch'"):
        load_recipe("nosuch")
