-- Each node looks for devices registered or changed on other nodes since its last look.
CREATE INDEX devices_updated ON devices (updated_at);
