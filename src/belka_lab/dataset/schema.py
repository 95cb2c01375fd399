"""The three BELKA targets, in the column order every array and model output uses."""

PROTEINS: tuple[str, str, str] = ("BRD4", "HSA", "sEH")
PROTEIN_INDEX: dict[str, int] = {name: i for i, name in enumerate(PROTEINS)}
