ALTER TABLE "option_profiles" ADD COLUMN "max_failed_logins" integer DEFAULT 3 NOT NULL;--> statement-breakpoint
ALTER TABLE "scans" ADD COLUMN "status_reason" text;--> statement-breakpoint
ALTER TABLE "option_profiles" ADD CONSTRAINT "option_profiles_failed_logins_check" CHECK ("option_profiles"."max_failed_logins" > 0);