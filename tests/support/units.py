"""Units and fixed values the tests and benchmarks share."""

from fitmint.units import FIT  # noqa: F401 - re-exported: the tests import their units from here

DAY = 86_400  # seconds
HOUR = 3_600  # seconds
CID = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"  # an IPFS CIDv1, as listings carry
CID_V0 = "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG"
