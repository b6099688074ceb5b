-- Schema 003: which plugin encoded a transfer, as separate columns, so the protocol log
-- can name the plugin's name, version and sha256 without parsing `plugin` (name@version,
-- kept as it was). Live reload in `hub serve` makes this matter: transfers before and
-- after a replaced plugin file carry different versions and hashes.
ALTER TABLE transfers ADD COLUMN plugin_name TEXT NOT NULL DEFAULT '';
ALTER TABLE transfers ADD COLUMN plugin_version TEXT NOT NULL DEFAULT '';
UPDATE transfers
   SET plugin_name = substr(plugin, 1, instr(plugin, '@') - 1),
       plugin_version = substr(plugin, instr(plugin, '@') + 1)
 WHERE instr(plugin, '@') > 0;
UPDATE transfers SET plugin_name = plugin WHERE instr(plugin, '@') = 0;
