-- Duplicate search looks for a category's cases in a small box around a point. With latitude in
-- the index beside longitude, the rows of the longitude band that fall outside the box are
-- passed over in the index; before, each was read from the table only to be thrown away (about
-- eighty rows for every report once a day's intake had filled the district, issue 4).
CREATE INDEX cases_category_lon_lat ON cases (category, lon, lat);
DROP INDEX cases_category_lon;
