"""Execute every notebook in this folder and store it with its outputs (figures included).

    python notebooks/regenerate.py            # all notebooks
    python notebooks/regenerate.py quickstart  # one

The outputs are deterministic (fixed keys, no clock readings, no timing metadata, no stderr such as progress bars, the
inline backend),
so regenerating an unchanged notebook on the same versions of JAX and Matplotlib changes nothing.
The tests execute the notebooks too (tests/test_notebooks.py), without writing them.
"""

import glob
import os
import sys

import nbformat
from nbclient import NotebookClient

HERE = os.path.dirname(os.path.abspath(__file__))


def regenerate(path):
    """Execute one notebook in place (kernel ``python3``, working directory this folder)."""
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"   # figures as outputs
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=1200, kernel_name="python3", record_timing=False,
                   resources={"metadata": {"path": HERE}}).execute()
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":     # progress bars (stderr) carry wall times: not stored
            cell.outputs = [o for o in cell.outputs if o.get("name") != "stderr"]
    nbformat.write(nb, path)


def main(argv):
    names = argv or [os.path.splitext(os.path.basename(p))[0]
                     for p in sorted(glob.glob(os.path.join(HERE, "*.ipynb")))]
    for name in names:
        path = os.path.join(HERE, name + ".ipynb")
        print(f"executing {path}", flush=True)
        regenerate(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
