"""The public NEP models shipped with the tests are the published files (hashes in their README)."""

import hashlib
import lzma
import re

from conftest import PUBLIC_NEP


def test_shipped_models_match_their_readme():
    listed = dict(re.findall(r"\| `([^`]+\.txt)` \| `([0-9a-f]{64})` \|", (PUBLIC_NEP / "README.md").read_text()))
    shipped = {p.name[:-3]: p for p in PUBLIC_NEP.glob("*.txt.xz")}
    assert set(listed) == set(shipped) and len(listed) == 3
    for name, path in shipped.items():
        assert hashlib.sha256(lzma.decompress(path.read_bytes())).hexdigest() == listed[name], name
