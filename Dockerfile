# corridor: build the zone catalog from the repository's files and serve it (OGC API Features, tiles, maps).
# The image holds the embedded store (var/corridor.gpkg) built at image build time; set CORRIDOR_DATABASE_URL to
# postgresql://… at run time to serve from PostGIS instead (a new database is built from the files on first start).
FROM python:3.11-slim
WORKDIR /srv/corridor
COPY pyproject.toml README.md ./
COPY app ./app
COPY boundaries ./boundaries
COPY geodata ./geodata
RUN pip install --no-cache-dir -e . \
 && corridor check > /dev/null \
 && corridor build --out /tmp/exports --actor image -m "image build" && rm -rf /tmp/exports
ENV CORRIDOR_HOST=0.0.0.0 CORRIDOR_PORT=8000
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)" || exit 1
CMD ["corridor", "serve"]
