"""The ``curate`` command line: one click command per stage, each in its own module.

Errors curate raises on purpose print as one line (``curate: error: ...``) with exit status 2; pass
``--traceback`` before the command to see the full Python traceback instead. Every message, traceback, warning
and log record is printed with secrets redacted (:mod:`curate.redact`).
"""

from __future__ import annotations

import sys
from typing import Any

import click

from curate import __version__, redact
from curate.errors import CurateError


class CurateGroup(click.Group):
    """A group that turns CurateError (and KeyboardInterrupt) into a one-line message, and prints every other
    failure's traceback itself, so that both pass through :func:`curate.redact.redact`."""

    def invoke(self, ctx: click.Context) -> Any:
        redact.install()
        try:
            return super().invoke(ctx)
        except CurateError as exc:
            if ctx.meta.get("curate.traceback"):
                click.echo(redact.format_exception(exc), err=True, nl=False)
                sys.exit(1)
            click.echo(f"curate: error: {redact.redact(str(exc))}", err=True)
            sys.exit(2)
        except KeyboardInterrupt:
            click.echo("curate: interrupted; every dataset written so far is readable, re-run to resume", err=True)
            sys.exit(130)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise  # click prints these (usage errors name the option) and exits
        except Exception as exc:  # a failure curate did not foresee: its traceback, redacted
            if isinstance(exc, BrokenPipeError):
                raise  # click closes stdout quietly (`curate info DIR | head`)
            click.echo(redact.format_exception(exc), err=True, nl=False)
            sys.exit(1)


@click.group(cls=CurateGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="curate")
@click.option("--traceback", is_flag=True, help="Show full Python tracebacks instead of one-line errors.")
@click.pass_context
def main(ctx: click.Context, traceback: bool) -> None:
    """Build, check and correct training data for universal interatomic potentials.

    \b
    The pipeline, one command per stage:
      curate import FORMAT FILES... --out DIR   real DFT files -> a validated Parquet dataset
      curate check DIR                          quality gate (NaN, shapes, short bonds, units)
      curate info DIR                           counts and label distributions (table, --plot PNG)
      curate pull mp --chemsys Li-Fe-O --out DIR   Materials Project GGA(+U)/r2SCAN frames, paired by material
      curate pair-report DIR                    GGA vs r2SCAN energies, per-element shifts, AtomRef fits
      curate predict DIR -m chgnet@0.3.0 --out P   uMLIP predictions as a companion dataset keyed by id
      curate softening DIR -m chgnet@0.3.0      softening scale (force slope), MAE, cMAE, parity plot
      curate coverage REF --target DIR --out R  descriptor coverage and label-space bias (JSON, Markdown, PNG)
      curate generate DIR --recipe high-energy --out OUT   rattles, strains, defects, slabs, 1000 K MD frames
      curate export DIR --format extxyz ...     files for MACE, CHGNet or an ASE database
      curate sample --budget K                  the K candidates a uMLIP committee disagrees on most
      curate label DIR --vasp-inputs OUT        MP-compatible VASP inputs (or -m SPEC --out DIR labels)
      curate finetune -m chgnet@0.3.0 --train DIR --method linear --out M   fine-tune; prints the new model spec
      curate correction-gain --pool P --correction C --benchmark B -m SPEC   chosen set vs random sets of its size
      curate learning-curve --pool P --benchmark B -m SPEC -o R   held-out error vs budget, strategies vs random
      curate properties -m chgnet@0.3.0 --energy-scale S -o R   moduli, EOS, phonons vs DFT, before/after
      curate scaling --target DIR --sizes 100,300,1000 --out R   GGA -> r2SCAN transfer: MAE vs N per method
      curate publish DIR --repo ORG/NAME        Hugging Face dataset repo + card with bias metrics (--dry-run --out)
      curate pull hf ORG/NAME --out DIR         a published dataset (or release folder) back into curate
      curate demo                               build, check and summarise a demo dataset offline

    \b
    Options mean the same in every command: -o/--out, -m/--model, --device, --functional, --seed, ...
    (docs/cli.md).
    """
    ctx.meta["curate.traceback"] = traceback


def _register() -> None:
    from curate.cli import (
        check_cmd,
        correction_gain_cmd,
        coverage_cmd,
        demo_cmd,
        export_cmd,
        finetune_cmd,
        generate_cmd,
        import_cmd,
        info_cmd,
        label_cmd,
        learning_curve_cmd,
        pair_report_cmd,
        predict_cmd,
        properties_cmd,
        publish_cmd,
        pull_cmd,
        sample_cmd,
        scaling_cmd,
        softening_cmd,
        validate_cmd,
    )

    for module in (
        pull_cmd,
        import_cmd,
        check_cmd,
        info_cmd,
        pair_report_cmd,
        predict_cmd,
        softening_cmd,
        coverage_cmd,
        generate_cmd,
        sample_cmd,
        label_cmd,
        finetune_cmd,
        correction_gain_cmd,
        scaling_cmd,
        learning_curve_cmd,
        properties_cmd,
        export_cmd,
        publish_cmd,
        demo_cmd,
        validate_cmd,
    ):
        main.add_command(module.command)


_register()
