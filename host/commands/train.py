"""`diodenet train` (placeholder until implemented)."""


def register(sub):
    p = sub.add_parser("train", help="(not yet implemented)")
    p.set_defaults(func=run)


def run(args):
    raise NotImplementedError("diodenet train is not implemented yet")
