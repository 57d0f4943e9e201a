"""ecgsl-keras: ECG Segment Learning (arXiv 2310.00818) in Keras 3 on TensorFlow."""
import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent

setup(
    name="ecgsl-keras",
    version=re.search(r'__version__ = "([^"]+)"', (HERE / "ecgsl_keras" / "_version.py").read_text()).group(1),
    description="ECG Segment Learning: heartbeat-segment self-supervised learning in Keras 3",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["ecgsl_keras", "ecgsl_keras.*", "tfrecords_tools", "tfrecords_tools.*"]),
    include_package_data=True,
    package_data={"ecgsl_keras": ["data/*.json", "data/cinc2017_sample/*",
                                  # named R-peak detector points (ecgsl_keras.data.rpeak_points)
                                  "data/rpeak_point_files/*.json",
                                  # pretrained presets (ecgsl_keras.pretrained): model.keras, *.json, README.md
                                  "presets/*.md", "presets/*/*.keras", "presets/*/*.json", "presets/*/*.md",
                                  "presets/*/*.txt", "presets/*/*.gz"]},
    install_requires=[
        "tensorflow>=2.18,<2.22",
        "tensorboard>=2.18",  # TensorBoard callback logs; not a dependency of tensorflow itself since 2.20
        "keras>=3.8,<4",
        "numpy>=1.26",
        "scipy>=1.11",
        "pandas>=2.0",
        "scikit-learn>=1.4",
        "wfdb>=4.1",
        "neurokit2>=0.2.10",
        "tqdm>=4.66",
        "matplotlib>=3.8",
        # the default cinc2017 preset averages ECG-SL with a LightGBM booster over record features
        "lightgbm>=4.0",
    ],
    extras_require={
        "tune": ["keras-tuner>=1.4"],
        # tf-explain 0.3.1 declares no dependencies of its own; it needs opencv for its heat maps.
        "explain": ["tf-explain>=0.3.1", "opencv-python-headless>=4.8"],
        "litert": ["ai-edge-litert>=1.2"],
        # prepare --runner beam. Not in "dev": about 350 MB (pyarrow, apache_beam), and it pins
        # protobuf below 7 (TensorFlow 2.21 accepts 6.31+); its tests skip without it.
        "beam": ["apache-beam[tfrecord]>=2.60"],
        # the docs site: mkdocs build --strict (mkdocs.yml)
        "docs": ["mkdocs>=1.6", "mkdocs-material>=9", "mkdocstrings[python]>=0.26"],
        # kept for old install lines: LightGBM is now a base dependency (the cinc2017 preset needs it)
        "boost": ["lightgbm>=4.0"],
        # tests run explain and tune: their extras too
        "dev": ["pytest>=8", "pytest-timeout>=2.3", "pytest-xdist>=3.5", "ai-edge-litert>=1.2", "tf-explain>=0.3.1",
                "opencv-python-headless>=4.8", "keras-tuner>=1.4", "lightgbm>=4.0"],
    },
    entry_points={
        "console_scripts": [
            "ecgsl=ecgsl_keras.cli.main:main",
            # the former one-command scripts, kept as aliases of `ecgsl <command>`
            "ecgsl-train=ecgsl_keras.cli.train:main",
            "ecgsl-prepare=ecgsl_keras.cli.prepare:main",
            "ecgsl-evaluate=ecgsl_keras.cli.evaluate:main",
            "ecgsl-export=ecgsl_keras.cli.export:main",
            "ecgsl-predict=ecgsl_keras.cli.predict:main",
            "ecgsl-quickstart=ecgsl_keras.cli.quickstart:main",
        ]
    },
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Medical Science Apps.",
    ],
)
