
-- TODO(lab type): the operator + on two pairs, added member by member.
-- Uncomment these lines once lab_pair_add is written in lab_pair.c.
-- Is + commutative?  Then say so: COMMUTATOR names the operator itself.
--
-- CREATE FUNCTION lab_pair_add(lab_pair, lab_pair) RETURNS lab_pair
-- AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
-- CREATE OPERATOR + (LEFTARG = lab_pair, RIGHTARG = lab_pair,
--     FUNCTION = lab_pair_add);
