"""Recipes and the generator registry: the built-in high-energy recipe is the softening paper's protocol."""

from __future__ import annotations

import dataclasses

import pytest

from curate.errors import ConfigurationError
from sampling.generators import GENERATOR_NAMES, make_generator
from sampling.generators.md import MolecularDynamics
from sampling.generators.strain import Strain
from sampling.recipe import load_recipe, recipe_from_mapping


def test_high_energy_recipe_is_the_softening_protocol() -> None:
    recipe = load_recipe("high-energy")
    md, strain = recipe.steps
    assert isinstance(md.generator, MolecularDynamics) and md.input == "parents"
    assert md.generator.calculator == "chgnet@0.3.0" and md.generator.temperature_k == 1000.0
    # 10 frames spanning 20 ps of NVT
    assert md.generator.n_frames == 10
    total_ps = md.generator.n_frames * md.generator.interval_steps * md.generator.timestep_fs / 1000.0
    assert total_ps == pytest.approx(20.0)
    # 4 of the frames strained by +-3 % along each of the three lattice vectors: 24 structures per parent
    assert isinstance(strain.generator, Strain) and strain.input == "md" and strain.take == 4
    assert strain.generator.uniaxial == (-0.03, 0.03) and len(strain.generator.deformations()) == 6
    assert load_recipe("high-energy", seed=9).seed == 9 and recipe.seed == 0


def test_every_registered_generator_builds_with_defaults_or_minimal_params() -> None:
    minimal = {"strain": {"uniaxial": [0.03]}, "md": {"calculator": "emt"}}
    for name in GENERATOR_NAMES:
        generator = make_generator(name, minimal.get(name))
        assert generator.name == name
        params = generator.params()
        assert all(f.name in params for f in dataclasses.fields(generator) if not f.name.startswith(("_", "calc")))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"steps": []}, "'steps' must be a non-empty list"),
        ({"steps": [{"generator": "strain", "params": {"uniaxial": 0.03}}], "sed": 1}, "unknown key(s) ['sed']"),
        ({"steps": [{"generator": "strain", "input": "md", "params": {"uniaxial": 0.03}}]}, "neither 'parents'"),
        ({"steps": [{"generator": "vacancy"}, {"generator": "vacancy"}]}, "is used twice"),
        ({"steps": [{"generator": "vacancy", "take": 0}]}, "'take' must be a positive integer"),
        ({"steps": [{"generator": "vacancy"}], "seed": -1}, "'seed' must be a non-negative integer"),
    ],
)
def test_bad_recipes_name_the_problem(data: dict, message: str) -> None:
    with pytest.raises(ConfigurationError, match=r"recipe\.yaml") as error:
        recipe_from_mapping(data, origin="recipe.yaml")
    assert message in str(error.value)


def test_a_scalar_becomes_a_one_value_list() -> None:
    assert make_generator("gaussian-rattle", {"std_ang": 0.1}).params()["std_ang"] == [0.1]


def test_every_shipped_recipe_loads_with_the_one_loader() -> None:
    from curate.dataset.resources import packaged_file

    shipped = sorted(p.stem for p in packaged_file("datasets", "demo.yaml").parent.glob("*.yaml"))
    assert shipped == ["demo", "high-energy", "perturb", "sample-pool"]
    recipes = {name: load_recipe(name) for name in shipped}
    assert recipes["demo"].structures == ("Al-fcc", "Cu-fcc", "Ni-fcc", "Ag-fcc", "Pd-fcc")
    assert recipes["demo"].supercell == (2, 2, 2)
    assert recipes["sample-pool"].structures == ("Si-diamond", "Cu-fcc", "NaCl-rocksalt", "MgO-rocksalt")
    assert recipes["high-energy"].structures == () and recipes["high-energy"].builtin_parents() == []
    # the demo's 2x2x2 fcc supercells hold 32 atoms
    assert {cfg.nsites for cfg in recipes["demo"].builtin_parents()} == {32}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"structures": ["Fe-bcc"]}, "unknown built-in structure(s) ['Fe-bcc']"),
        ({"structures": "Cu-fcc"}, "'structures' must be a list"),
        ({"structures": ["Cu-fcc"], "supercell": [2, 2]}, "'supercell' must be three positive integers"),
    ],
)
def test_bad_built_in_structures_name_the_problem(extra: dict, message: str) -> None:
    with pytest.raises(ConfigurationError, match=r"recipe\.yaml") as error:
        recipe_from_mapping({"steps": [{"generator": "vacancy"}], **extra}, origin="recipe.yaml")
    assert message in str(error.value)
