ALTER TABLE "host_packages" DROP CONSTRAINT "host_packages_result_id_host_results_id_fk";
--> statement-breakpoint
-- What the dropped foreign key's ON DELETE CASCADE did, once per statement instead of once per row.
CREATE FUNCTION "host_packages_follow_results"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM "host_packages" WHERE "result_id" IN (SELECT "id" FROM "deleted_results");
  RETURN NULL;
END
$$;
--> statement-breakpoint
CREATE TRIGGER "host_packages_follow_results" AFTER DELETE ON "host_results"
  REFERENCING OLD TABLE AS "deleted_results" FOR EACH STATEMENT EXECUTE FUNCTION "host_packages_follow_results"();
