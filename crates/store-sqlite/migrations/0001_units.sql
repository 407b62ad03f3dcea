-- Administrative units: district, streets, communities, grids.
CREATE TABLE units (
    code        TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    level       TEXT NOT NULL CHECK (level IN ('district', 'street', 'community', 'grid')),
    parent_code TEXT REFERENCES units (code),
    -- GeoJSON geometry text (Polygon or MultiPolygon, WGS-84); NULL until a boundary is known.
    boundary    TEXT,
    synthetic   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX units_parent ON units (parent_code);

-- One row: grows with every change to units, so nodes know when to rebuild their index.
CREATE TABLE units_revision (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    revision INTEGER NOT NULL
);
INSERT INTO units_revision (id, revision) VALUES (1, 0);
