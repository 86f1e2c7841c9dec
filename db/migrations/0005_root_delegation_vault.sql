ALTER TABLE "auth_records" ADD COLUMN "root_vault_id" uuid;--> statement-breakpoint
ALTER TABLE "auth_records" ADD COLUMN "root_locator" jsonb;--> statement-breakpoint
ALTER TABLE "auth_records" ADD COLUMN "root_field" text;--> statement-breakpoint
ALTER TABLE "auth_records" ADD CONSTRAINT "auth_records_root_vault_id_vault_records_id_fk" FOREIGN KEY ("root_vault_id") REFERENCES "public"."vault_records"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "auth_records_root_vault_idx" ON "auth_records" USING btree ("root_vault_id");--> statement-breakpoint
ALTER TABLE "auth_records" ADD CONSTRAINT "auth_records_root_delegation_check" CHECK (("auth_records"."root_vault_id" is null) = ("auth_records"."root_locator" is null) and ("auth_records"."root_vault_id" is null) = ("auth_records"."root_field" is null));