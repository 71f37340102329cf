-- porpoise schema 19 (Postgres): the slot of a workflow instance, computed by the database
-- (docs/architecture.md §3.3). Forward only.
--
-- porpoise_slot_of_instance(id, slot_count) is exactly slotOfInstance of src/coordinator/
-- coordinator.ts (murmur3's 32-bit finalizer over the id's two 32-bit halves, modulo the slot
-- count); test/integration/store/slot-function.test.ts compares the two. With it, a run created
-- through the API draws its id and writes its slot in ONE statement (instance-create-sql.ts)
-- instead of a nextval round trip first.

-- (a * b) mod 2^32 for a, b in [0, 2^32): Math.imul's low 32 bits, without overflowing bigint.
CREATE OR REPLACE FUNCTION porpoise_imul32(a bigint, b bigint) RETURNS bigint
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
  AS $$ SELECT ((a * (b & 65535)) + (((a * (b >> 16)) & 65535) << 16)) & 4294967295 $$;

CREATE OR REPLACE FUNCTION porpoise_fmix32(x bigint) RETURNS bigint
  LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
  AS $$
DECLARE
  h bigint := x & 4294967295;
BEGIN
  h := h # (h >> 16);
  h := porpoise_imul32(h, 2246822507); -- 0x85ebca6b
  h := h # (h >> 13);
  h := porpoise_imul32(h, 3266489909); -- 0xc2b2ae35
  h := h # (h >> 16);
  RETURN h;
END $$;

CREATE OR REPLACE FUNCTION porpoise_slot_of_instance(id bigint, slot_count integer) RETURNS integer
  LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
  AS $$
BEGIN
  IF id < 0 OR id > 9007199254740991 OR slot_count < 1 OR slot_count > 4096 THEN
    RAISE EXCEPTION 'porpoise_slot_of_instance: id must be 0 to 2^53-1 and slot_count 1 to 4096, got % and %', id, slot_count;
  END IF;
  RETURN (porpoise_fmix32((id & 4294967295) # porpoise_imul32(porpoise_fmix32((id >> 32) & 4294967295), 2654435761)) % slot_count)::integer; -- 0x9e3779b1
END $$;
