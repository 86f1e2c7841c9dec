CREATE TABLE "scan_appliances" (
	"scan_id" uuid NOT NULL,
	"appliance_id" uuid NOT NULL,
	"position" integer NOT NULL,
	CONSTRAINT "scan_appliances_scan_id_appliance_id_pk" PRIMARY KEY("scan_id","appliance_id")
);
--> statement-breakpoint
CREATE TABLE "schedule_appliances" (
	"schedule_id" uuid NOT NULL,
	"appliance_id" uuid NOT NULL,
	"position" integer NOT NULL,
	CONSTRAINT "schedule_appliances_schedule_id_appliance_id_pk" PRIMARY KEY("schedule_id","appliance_id")
);
--> statement-breakpoint
ALTER TABLE "scan_appliances" ADD CONSTRAINT "scan_appliances_scan_id_scans_id_fk" FOREIGN KEY ("scan_id") REFERENCES "public"."scans"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "scan_appliances" ADD CONSTRAINT "scan_appliances_appliance_id_appliances_id_fk" FOREIGN KEY ("appliance_id") REFERENCES "public"."appliances"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "schedule_appliances" ADD CONSTRAINT "schedule_appliances_schedule_id_schedules_id_fk" FOREIGN KEY ("schedule_id") REFERENCES "public"."schedules"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "schedule_appliances" ADD CONSTRAINT "schedule_appliances_appliance_id_appliances_id_fk" FOREIGN KEY ("appliance_id") REFERENCES "public"."appliances"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "scan_appliances_appliance_idx" ON "scan_appliances" USING btree ("appliance_id");--> statement-breakpoint
CREATE INDEX "schedule_appliances_appliance_idx" ON "schedule_appliances" USING btree ("appliance_id");--> statement-breakpoint
-- Every scan and schedule stored before pools has a pool of its one appliance.
INSERT INTO "scan_appliances" ("scan_id", "appliance_id", "position") SELECT "id", "appliance_id", 0 FROM "scans";--> statement-breakpoint
INSERT INTO "schedule_appliances" ("schedule_id", "appliance_id", "position") SELECT "id", "appliance_id", 0 FROM "schedules" WHERE "appliance_id" IS NOT NULL;
