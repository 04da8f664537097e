from .cli import main

# Guarded: worker processes that --cluster local spawns import this module again (as __mp_main__).
if __name__ == "__main__":
    raise SystemExit(main())
