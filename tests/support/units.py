"""Units and fixed values the tests and benchmarks share."""

FIT = 10**18  # one FIT in wei (18 decimals)
DAY = 86_400  # seconds
HOUR = 3_600  # seconds
CID = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"  # an IPFS CIDv1, as listings carry
CID_V0 = "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG"
