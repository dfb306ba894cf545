--
-- Install the old version, then follow the upgrade path to the new one.
--
CREATE EXTENSION pgl_funcs VERSION '1.0';
SELECT extversion FROM pg_extension WHERE extname = 'pgl_funcs';

-- 1.0 does not declare pgl_split yet.
SELECT to_regprocedure('pgl_split(text,text)') IS NULL AS split_missing;

-- The update path PostgreSQL would follow (uses pgl_funcs--1.0--1.1.sql).
SELECT path FROM pg_extension_update_paths('pgl_funcs')
WHERE source = '1.0' AND target = '1.1';

ALTER EXTENSION pgl_funcs UPDATE TO '1.1';
SELECT extversion FROM pg_extension WHERE extname = 'pgl_funcs';

-- The function added by 1.1 works and belongs to the extension.
SELECT * FROM pgl_split('a,b,c', ',');
SELECT pg_describe_object(classid, objid, objsubid) AS member
FROM pg_depend
WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
  AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pgl_funcs')
ORDER BY 1;

DROP EXTENSION pgl_funcs;
