-- Schema 003, as ../003_plugin_provenance.sql.
ALTER TABLE transfers ADD COLUMN plugin_name TEXT NOT NULL DEFAULT '';
ALTER TABLE transfers ADD COLUMN plugin_version TEXT NOT NULL DEFAULT '';
UPDATE transfers
   SET plugin_name = substr(plugin, 1, strpos(plugin, '@') - 1),
       plugin_version = substr(plugin, strpos(plugin, '@') + 1)
 WHERE strpos(plugin, '@') > 0;
UPDATE transfers SET plugin_name = plugin WHERE strpos(plugin, '@') = 0;
