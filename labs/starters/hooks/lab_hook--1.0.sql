
-- TODO(lab hooks): declare lab_hook_started, the C function at the end of
-- lab_hook.c, by uncommenting these lines once it is written.
--
-- CREATE FUNCTION lab_hook_started()
-- RETURNS int8
-- AS 'MODULE_PATHNAME', 'lab_hook_started'
-- LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;
