"""``mifomo-lite peft …`` sub-commands.

* ``peft table [--sizes tiny base] [--phase target|source] [--trainable-set code|cp_only] [--json]``
  — trainable parameters of every adaptation method (adapter, closed form, protocol layers, total,
  backbone), built on the ``meta`` device: instant, even for base.
"""

from __future__ import annotations

import json

SIZES = ("tiny", "small", "base", "large", "huge")


def register(subparsers) -> None:
    peft = subparsers.add_parser("peft", help="parameter-efficient adaptation: CP, LoRA, prompts, full, head",
                                 description="Parameter-efficient adaptation: CP, LoRA, prompts, full, head.")
    psub = peft.add_subparsers(dest="peft_command", metavar="ACTION")
    peft.set_defaults(handler=lambda a: (peft.print_help(), 2)[1])
    tab = psub.add_parser("table", help="trainable parameters per method and size")
    tab.add_argument("--sizes", nargs="+", default=["tiny", "base"], choices=SIZES)
    tab.add_argument("--phase", default="target", choices=("source", "target"))
    tab.add_argument("--trainable-set", default="code", choices=("code", "cp_only"))
    tab.add_argument("--json", action="store_true", help="print JSON rows")
    tab.set_defaults(handler=_table)


def _table(args) -> int:
    from .table import format_parameter_table, parameter_table

    rows = parameter_table(tuple(args.sizes), phase=args.phase, trainable_set=args.trainable_set)
    print(json.dumps(rows, indent=2) if args.json else format_parameter_table(rows))
    return 0
