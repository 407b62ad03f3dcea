-- A device's alarm-rule state (rule_state, its open alarms) may be judged by any ingesting node
-- of a cluster: the broker's shared subscription hands a device's messages to the nodes in turn.
-- Each commit that judged a device from its state names the version it read and moves it on, in
-- the same transaction, under the device's row lock; a node whose copy is older is refused, loads
-- the device's state again and judges again. One node alone (SQLite) never claims.
ALTER TABLE devices ADD COLUMN state_version BIGINT NOT NULL DEFAULT 0;
