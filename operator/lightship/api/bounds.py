"""The bounds and grammars of the API: the models, the generated CRD and the property tests all
read these."""

MIN_SCALE, MAX_SCALE = 1, 20
MIN_CONTAINERS, MAX_CONTAINERS = 1, 10
MAX_CONTAINER_NAME_LENGTH = 53
MAX_IMAGE_LENGTH = 512
MAX_COMMAND_ARGS = 64
MAX_ARG_LENGTH = 4096
MAX_ENVIRONMENT = 100
MAX_ENV_NAME_LENGTH = 128
MAX_ENV_VALUE_LENGTH = 4096
MAX_PORTS = 20  # per container; the CEL rule that keeps ports unique is quadratic in them
MIN_PORT, MAX_PORT = 1, 65535
MAX_PATH_LENGTH = 1024
MIN_INTERVAL_SECONDS, MAX_INTERVAL_SECONDS = 5, 300
MIN_TIMEOUT_SECONDS, MAX_TIMEOUT_SECONDS = 2, 60
MIN_THRESHOLD, MAX_THRESHOLD = 2, 10
MIN_SUCCESS_CODE, MAX_SUCCESS_CODE = 200, 499
MAX_SUCCESS_CODES_LENGTH = 128
MAX_VERSIONS = 50
# The last lines of a failing container kept in its version's status entry, and how many of the
# newest versions keep theirs: bounded, so the status stays far below etcd's object size limit.
MAX_LOG_LINES = 20
MAX_LOG_BYTES = 2048
MAX_VERSIONS_WITH_LOGS = 5
MAX_SERVICE_NAME_LENGTH = 63
# The health-check prober that every pod with a public endpoint carries (a native sidecar,
# hack/prober) takes this container name and serves its verdict on this port: a user's container
# may use neither. The port is outside Linux's ephemeral range (32768-60999), so no outgoing
# connection of the pod holds it.
HEALTH_CHECK_CONTAINER = "lightship-health-check"
HEALTH_CHECK_PORT = 63990
MAX_DOMAINS = 4  # custom domains of a service, in all
MAX_DOMAIN_LENGTH = 253
MAX_SECRET_NAME_LENGTH = 253
MAX_SECRET_KEY_LENGTH = 253
MAX_IMAGE_PULL_SECRETS = 10
MAX_REDEPLOYED_AT_LENGTH = 64
# The spec fields that make a deployment version (DESIGN §2), in wire form. Every other field
# is capacity or a setting of the service, applied to the running version in place.
DEPLOYMENT_FIELDS = ("containers", "publicEndpoint", "redeployedAt")

# A DNS-1035 label: the service name becomes the name of a Service and an Ingress.
SERVICE_NAME_PATTERN = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
SERVICE_NAME_RULE = (
    f"at most {MAX_SERVICE_NAME_LENGTH} characters of lowercase letters, digits and hyphens, "
    "starting with a letter and not ending with a hyphen"
)
CONTAINER_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
ENV_NAME_PATTERN = r"^[-._a-zA-Z][-._a-zA-Z0-9]*$"
# An absolute URL path: printable ASCII without spaces. An explicit range rather than \S,
# because Go's RE2 (API server) and Rust's regex (pydantic) disagree on Unicode whitespace.
PATH_PATTERN = r"^/[!-~]*$"

# An image reference as the distribution/reference grammar has it:
# [registry[:port]/]path[:tag][@digest]. Only constructs that Go's RE2 (CEL) and Python read
# alike, and no backslash, which a CEL string literal would take for an escape.
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_HOST_COMPONENT = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
_REGISTRY = rf"{_HOST_COMPONENT}(?:[.]{_HOST_COMPONENT})*(?::[0-9]+)?"
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
IMAGE_PATTERN = (
    rf"^(?:{_REGISTRY}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*(?::{_TAG})?(?:@{_DIGEST})?$"
)

# A fully qualified domain name: two or more labels of lowercase letters, digits and hyphens,
# no hyphen first or last in a label. No wildcard: each domain is served as it is written.
_DOMAIN_LABEL = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"
DOMAIN_PATTERN = rf"^{_DOMAIN_LABEL}([.]{_DOMAIN_LABEL})+$"
# A Secret's name: a DNS-1123 subdomain.
SECRET_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
# One comma-separated part of a health check's success codes: a code or a range of codes.
SUCCESS_CODES_PART = r"^[0-9]{3}(-[0-9]{3})?$"
