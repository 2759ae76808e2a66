"""Images for a small ML project: a shared base, a training image and a serving image.

`pack hash examples/ml/spec.py` prints the tag each one hashes to; `pack build` reuses or
builds them. Relative paths (requirements.txt, assets/) resolve against this folder.
"""

from pack import ImageSpec

# The shared stack: numerical libraries, OpenMP for scikit-learn, the pinned requirements.
base = ImageSpec(
    name="pack-examples/ml-base",
    packages=["numpy>=1.26,<3", "pandas>=2.2", "pyarrow>=15"],
    requirements="requirements.txt",
    apt_packages=["libgomp1"],
    env={"OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"},
)

# Training: the base plus plotting and the label map baked in.
train = ImageSpec(
    name="pack-examples/ml-train",
    base_image=base,
    packages=["matplotlib>=3.8"],
    copy=["assets"],
    env={"MPLBACKEND": "Agg"},
)

# Serving: the base plus a small web stack, and its own entrypoint.
serve = ImageSpec(
    name="pack-examples/ml-serve",
    base_image=base,
    packages=["fastapi>=0.110", "uvicorn[standard]>=0.29"],
    copy=["assets/label_map.json"],
    env={"PORT": "8080"},
    entrypoint=["uvicorn", "app:api", "--host", "0.0.0.0", "--port", "8080"],
)
