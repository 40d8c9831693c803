"""`diodenet solve` (placeholder until implemented)."""


def register(sub):
    p = sub.add_parser("solve", help="(not yet implemented)")
    p.set_defaults(func=run)


def run(args):
    raise NotImplementedError("diodenet solve is not implemented yet")
