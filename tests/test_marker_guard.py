"""The marker guard of tests/conftest.py fails what would make ``-m "not slow"`` dishonest, and nothing else.

An inner pytest run (a subprocess, so that its torch hooks stay out of this one) uses this conftest on six
tests. The uMLIP stand-in is a module class declared in the ``mace`` package namespace: the guard keys on the
package that defines a module, and building a real model here would make this test a model test itself.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

INNER_TESTS = '''
import pytest
import torch


class StandIn(torch.nn.Module):
    """Stands for a uMLIP: a module defined in the mace package."""


StandIn.__module__ = "mace.modules.stand_in"


def build():
    model = StandIn()
    model.readout = torch.nn.Linear(1, 1)
    return model


@pytest.fixture(scope="module")
def built():
    return build()


def test_unmarked_builds_a_model():
    build()


@pytest.mark.model
@pytest.mark.slow
def test_marked_builds_a_model():
    build()


def test_unmarked_uses_a_model_fixture(built):
    pass


@pytest.mark.model
def test_model_but_not_slow():
    pass


def test_plain_torch_is_fine():
    torch.nn.Linear(2, 2)(torch.zeros(1, 2))


class Converter(torch.nn.Module):
    """Stands for CHGNet's graph converter: a module of the chgnet package without parameters."""

    def forward(self, x):
        return x


Converter.__module__ = "chgnet.graph.stand_in"


def test_weightless_module_of_a_umlip_package_is_fine():
    converter = Converter()
    converter.inner = torch.nn.Identity()
    converter(torch.zeros(1))
'''


def test_guard_fails_unmarked_model_tests_and_model_tests_not_marked_slow(pytester: pytest.Pytester) -> None:
    pytester.makeconftest((Path(__file__).parent / "conftest.py").read_text())
    pytester.makeini("[pytest]\nmarkers =\n    slow: slow\n    model: loads a uMLIP\n")
    pytester.makepyfile(test_inner=INNER_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rfE")
    result.assert_outcomes(passed=3, failed=2, errors=1)
    result.stdout.fnmatch_lines(
        [  # pytest prints errors (setup) before failures (call)
            "*test_model_but_not_slow is marked model but not slow*",
            "*test_unmarked_builds_a_model builds, loads or runs a CHGNet/MACE/matgl model but is not marked*",
            "*test_unmarked_uses_a_model_fixture builds, loads or runs a CHGNet/MACE/matgl model "
            "(through fixture built)*",
        ]
    )
