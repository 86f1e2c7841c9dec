CREATE TABLE "schedules" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"name" text NOT NULL,
	"title" text NOT NULL,
	"targets" text NOT NULL,
	"option_profile_id" uuid,
	"appliance_id" uuid,
	"last_refusal" jsonb,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "schedules_name_unique" UNIQUE("name")
);
--> statement-breakpoint
ALTER TABLE "scans" ADD COLUMN "schedule_id" uuid;--> statement-breakpoint
ALTER TABLE "scans" ADD COLUMN "schedule_run_id" text;--> statement-breakpoint
ALTER TABLE "schedules" ADD CONSTRAINT "schedules_option_profile_id_option_profiles_id_fk" FOREIGN KEY ("option_profile_id") REFERENCES "public"."option_profiles"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "schedules" ADD CONSTRAINT "schedules_appliance_id_appliances_id_fk" FOREIGN KEY ("appliance_id") REFERENCES "public"."appliances"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "schedules_option_profile_idx" ON "schedules" USING btree ("option_profile_id");--> statement-breakpoint
CREATE INDEX "schedules_appliance_idx" ON "schedules" USING btree ("appliance_id");--> statement-breakpoint
ALTER TABLE "scans" ADD CONSTRAINT "scans_schedule_id_schedules_id_fk" FOREIGN KEY ("schedule_id") REFERENCES "public"."schedules"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "scans_schedule_idx" ON "scans" USING btree ("schedule_id","created_at" DESC NULLS LAST);--> statement-breakpoint
ALTER TABLE "scans" ADD CONSTRAINT "scans_schedule_run_id_unique" UNIQUE("schedule_run_id");