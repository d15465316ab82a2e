# corridor: build the zone catalog from the repository's files and serve it (OGC API Features, tiles, maps).
FROM python:3.11-slim
WORKDIR /srv/corridor
COPY pyproject.toml README.md ./
COPY app ./app
COPY boundaries ./boundaries
COPY geodata ./geodata
RUN pip install --no-cache-dir -e . \
 && corridor check > /dev/null
ENV CORRIDOR_HOST=0.0.0.0 CORRIDOR_PORT=8000
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)" || exit 1
CMD ["corridor", "serve"]
