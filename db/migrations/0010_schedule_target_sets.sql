ALTER TABLE "schedules" ALTER COLUMN "targets" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "schedules" ADD COLUMN "target_sets" jsonb DEFAULT '{}'::jsonb NOT NULL;