# The Lightship operator image, published as ghcr.io/lightship-dev/lightship:0.1.0:
#   docker build -t ghcr.io/lightship-dev/lightship:0.1.0 .
# The wheel is built in a throwaway stage so the image holds no sources and no build tools.
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator ./operator
RUN pip wheel --no-deps --wheel-dir /wheels .

FROM python:3.11-slim
# pip compiles the bytecode once at install; the root filesystem is read-only at run time.
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN useradd --system --uid 10001 --user-group --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin lightship
# Only the lightship wheel is copied (a few kB); its dependencies come from PyPI here.
COPY --from=build /wheels /tmp/wheels
RUN pip install /tmp/wheels/*.whl && rm -rf /tmp/wheels
# Numeric, so that the kubelet can check runAsNonRoot without reading /etc/passwd.
USER 10001:10001
ENTRYPOINT ["lightship", "run"]
