"""`diodenet demo` (placeholder until implemented)."""


def register(sub):
    p = sub.add_parser("demo", help="(not yet implemented)")
    p.set_defaults(func=run)


def run(args):
    raise NotImplementedError("diodenet demo is not implemented yet")
