"""Compose a real entry point's config onto a tiny library and a temporary run directory."""

from hydra import compose, initialize_config_dir

from belka_lab.config import CONFIG_DIR

QUIET_TRAINER = ["trainer.enable_progress_bar=false", "trainer.enable_model_summary=false"]


def compose_run(name: str, tmp_path, library, run: str, *overrides: str):
    """Config `name` (train, pretrain, baseline, …) reading `library`, preparing into
    <tmp_path>/prepared and writing to <tmp_path>/<run>."""
    with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
        return compose(
            name,
            overrides=[
                f"paths.root_dir={tmp_path}", f"paths.output_dir={tmp_path}/{run}", f"data.root={library}",
                f"data.prepared_dir={tmp_path}/prepared", "data.synth=null", "data.prepare.progress=false", *overrides,
            ],
        )  # fmt: skip
